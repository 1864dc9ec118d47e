/* producers/forecast_sink.c - forecasts and surge alerts to Kafka. */
#include "producers/producers.h"

#include <stdlib.h>
#include <string.h>

struct dc_forecast_kafka_sink_s {
    dc_kafka_producer_t *kp;
    dc_codec_t *codec;
    char *forecast_topic, *surge_topic;
    dc_buf_t buf; /* reused for every record */
    uint64_t forecasts, surges;
};

dc_forecast_kafka_sink_t *dc_forecast_kafka_sink_new(dc_kafka_producer_t *kp, dc_codec_t *codec,
                                                     const char *forecast_topic,
                                                     const char *surge_topic, char *errstr,
                                                     size_t errstr_size)
{
    dc_forecast_kafka_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink || !(sink->forecast_topic = strdup(forecast_topic)) ||
        !(sink->surge_topic = strdup(surge_topic))) {
        dc_forecast_kafka_sink_destroy(sink);
        dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    sink->kp = kp;
    sink->codec = codec;
    return sink;
}

void dc_forecast_kafka_sink_destroy(dc_forecast_kafka_sink_t *sink)
{
    if (!sink)
        return;
    free(sink->forecast_topic);
    free(sink->surge_topic);
    dc_buf_free(&sink->buf);
    free(sink);
}

static int publish(dc_forecast_kafka_sink_t *sink, const char *topic, const char *sku,
                   int64_t ts)
{
    dc_kafka_msg_t msg = {
        .topic = topic,
        .key = sku,
        .key_len = strlen(sku),
        .value = sink->buf.data,
        .value_len = sink->buf.len,
        .timestamp_ms = ts,
    };
    int err = dc_kafka_producer_produce(sink->kp, &msg);
    if (err)
        dc_log(DC_LOG_ERROR, "sink", "cannot publish to %s: %s", topic,
               dc_kafka_producer_errstr(sink->kp));
    return err;
}

int dc_forecast_kafka_sink_forecast(void *opaque, const dc_forecast_t *fc)
{
    dc_forecast_kafka_sink_t *sink = opaque;
    int err;
    sink->buf.len = 0;
    if ((err = dc_codec_encode_forecast(sink->codec, fc, &sink->buf)))
        return err;
    if ((err = publish(sink, sink->forecast_topic, fc->sku, fc->issued_at)))
        return err;
    sink->forecasts++;
    return DC_OK;
}

int dc_forecast_kafka_sink_surge(void *opaque, const dc_surge_t *alert)
{
    dc_forecast_kafka_sink_t *sink = opaque;
    int err;
    sink->buf.len = 0;
    if ((err = dc_codec_encode_surge(sink->codec, alert, &sink->buf)))
        return err;
    if ((err = publish(sink, sink->surge_topic, alert->sku, alert->detected_at)))
        return err;
    sink->surges++;
    return DC_OK;
}

void dc_forecast_kafka_sink_attach(dc_forecast_kafka_sink_t *sink, dc_forecaster_sink_t *out)
{
    out->forecast = dc_forecast_kafka_sink_forecast;
    out->surge = dc_forecast_kafka_sink_surge;
    out->opaque = sink;
}

int dc_forecast_kafka_sink_flush(dc_forecast_kafka_sink_t *sink, int timeout_ms)
{
    return dc_kafka_producer_flush(sink->kp, timeout_ms);
}

uint64_t dc_forecast_kafka_sink_forecasts(const dc_forecast_kafka_sink_t *sink)
{
    return sink->forecasts;
}

uint64_t dc_forecast_kafka_sink_surges(const dc_forecast_kafka_sink_t *sink)
{
    return sink->surges;
}
