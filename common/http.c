/* common/http.c - the /metrics and /health endpoint on libmicrohttpd. */
#include "common/common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct dc_http_s {
    struct MHD_Daemon *daemon;
    dc_metrics_t *metrics;
    dc_health_fn_t *health;
    void *opaque;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             const void *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    dc_http_t *http = cls;
    (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;

    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9);
    if (!strcmp(url, "/metrics")) {
        dc_buf_t buf = {0};
        enum MHD_Result ret;
        if (dc_metrics_render(http->metrics, &buf)) {
            dc_buf_free(&buf);
            return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "no memory\n", 10);
        }
        ret = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", buf.data ? (char *)buf.data : "",
                    buf.len);
        dc_buf_free(&buf);
        return ret;
    }
    if (!strcmp(url, "/health")) {
        char msg[256] = "ok";
        int healthy = http->health ? http->health(http->opaque, msg, sizeof(msg)) : 1;
        size_t n = strlen(msg);
        if (n < sizeof(msg) - 1)
            msg[n++] = '\n';
        return reply(conn, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", msg,
                     n);
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found: try /metrics or /health\n",
                 35);
}

dc_http_t *dc_http_new(const char *bind_addr, int port, dc_metrics_t *metrics,
                       dc_health_fn_t *health, void *opaque, char *errstr, size_t errstr_size)
{
    struct sockaddr_in addr;
    dc_http_t *http = calloc(1, sizeof(*http));
    const union MHD_DaemonInfo *info;

    if (!http) {
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr ? bind_addr : "0.0.0.0", &addr.sin_addr) != 1) {
        dc_seterr(errstr, errstr_size, DC_ERR_CONFIG, "bad HTTP bind address \"%s\"", bind_addr);
        goto fail;
    }
    http->metrics = metrics;
    http->health = health;
    http->opaque = opaque;
    http->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                    (uint16_t)port, NULL, NULL, on_request, http,
                                    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                    MHD_OPTION_END);
    if (!http->daemon) {
        dc_seterr(errstr, errstr_size, DC_ERR_IO, "cannot listen on HTTP port %d", port);
        goto fail;
    }
    info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    http->port = info ? info->port : port;
    return http;
fail:
    free(http);
    return NULL;
}

int dc_http_port(const dc_http_t *http) { return http->port; }

void dc_http_destroy(dc_http_t *http)
{
    if (!http)
        return;
    MHD_stop_daemon(http->daemon);
    free(http);
}
