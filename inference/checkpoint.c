/* inference/checkpoint.c - the versioned binary checkpoint of weights and
 * optimiser state (format in inference.h), to memory and to files. */
#include "inference/inference_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define HEADER_SIZE 72

static void put_floats(uint8_t *p, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        dc__put_le(p + 4 * i, u, 4);
    }
}

/* Decodes n floats; returns 0 if any is NaN or infinite. */
static int get_floats(const uint8_t *p, float *f, size_t n)
{
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)dc__get_le(p + 4 * i, 4);
        memcpy(&f[i], &u, 4);
        finite &= isfinite(f[i]);
    }
    return finite;
}

int dc_model_save(const dc_model_t *model, dc_buf_t *out)
{
    size_t P = model->n_params;
    size_t len = HEADER_SIZE + 12 * P + 4;
    int err = dc_buf_reserve(out, len);
    if (err)
        return err;
    uint8_t *p = out->data + out->len;
    memcpy(p, DC_MODEL_MAGIC, 8);
    dc__put_le(p + 8, DC_MODEL_FORMAT_VERSION, 4);
    dc__put_le(p + 12, (uint32_t)model->F, 4);
    dc__put_le(p + 16, (uint32_t)model->H, 4);
    dc__put_le(p + 20, (uint32_t)model->Hz, 4);
    dc__put_le(p + 24, (uint32_t)model->K, 4);
    dc__put_le(p + 28, (uint32_t)P, 4);
    dc__put_le(p + 32, model->version, 8);
    dc__put_le(p + 40, model->adam_t, 8);
    dc__put_le(p + 48, model->skipped, 8);
    dc__put_le(p + 56, model->rollbacks, 8);
    uint64_t lm;
    memcpy(&lm, &model->loss_mean, 8);
    dc__put_le(p + 64, lm, 8);
    put_floats(p + HEADER_SIZE, model->params, P);
    put_floats(p + HEADER_SIZE + 4 * P, model->adam_m, P);
    put_floats(p + HEADER_SIZE + 8 * P, model->adam_v, P);
    dc__put_le(p + len - 4, (uint32_t)crc32(0L, p, (uInt)(len - 4)), 4);
    out->len += len;
    return 0;
}

/* The checks every reader of a checkpoint makes before trusting its sizes. */
static int check_frame(const uint8_t *p, size_t len, uint32_t *P, char *errstr,
                       size_t errstr_size)
{
    if (len < HEADER_SIZE + 4)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED,
                         "checkpoint: %zu bytes is shorter than its header", len);
    if (memcmp(p, DC_MODEL_MAGIC, 8))
        return dc_seterr(errstr, errstr_size, DC_ERR_BAD_MAGIC,
                         "checkpoint: bad magic (not a demandcast model)");
    uint32_t version = (uint32_t)dc__get_le(p + 8, 4);
    if (version != DC_MODEL_FORMAT_VERSION)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "checkpoint: format version %u, this build reads %d", version,
                         DC_MODEL_FORMAT_VERSION);
    *P = (uint32_t)dc__get_le(p + 28, 4);
    uint64_t want = HEADER_SIZE + 12 * (uint64_t)*P + 4;
    if (len < want)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRUNCATED,
                         "checkpoint: %zu bytes, its header says %llu", len,
                         (unsigned long long)want);
    if (len > want)
        return dc_seterr(errstr, errstr_size, DC_ERR_TRAILING,
                         "checkpoint: %zu bytes, its header says %llu", len,
                         (unsigned long long)want);
    if ((uint32_t)dc__get_le(p + want - 4, 4) != (uint32_t)crc32(0L, p, (uInt)(want - 4)))
        return dc_seterr(errstr, errstr_size, DC_ERR_CHECKSUM, "checkpoint: CRC-32 mismatch");
    return 0;
}

int dc_model_peek(const void *buf, size_t len, dc_model_conf_t *mc, char *errstr,
                  size_t errstr_size)
{
    const uint8_t *p = buf;
    uint32_t P;
    int err = check_frame(p, len, &P, errstr, errstr_size);
    if (err)
        return err;
    if ((uint32_t)dc__get_le(p + 12, 4) != DC__F)
        return dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                         "checkpoint: %u input features, this build has %d", (uint32_t)dc__get_le(p + 12, 4),
                         DC__F);
    mc->hidden = (int)(uint32_t)dc__get_le(p + 16, 4);
    mc->horizon = (int)(uint32_t)dc__get_le(p + 20, 4);
    mc->bptt = (int)(uint32_t)dc__get_le(p + 24, 4);
    return 0;
}

int dc_model_load(dc_model_t *model, const void *buf, size_t len, char *errstr,
                  size_t errstr_size)
{
    const uint8_t *p = buf;
    float *tmp = NULL;
    uint32_t P;
    int err = check_frame(p, len, &P, errstr, errstr_size);
    if (err)
        goto fail;
    if ((uint32_t)dc__get_le(p + 12, 4) != (uint32_t)model->F || (uint32_t)dc__get_le(p + 16, 4) != (uint32_t)model->H ||
        (uint32_t)dc__get_le(p + 20, 4) != (uint32_t)model->Hz || (uint32_t)dc__get_le(p + 24, 4) != (uint32_t)model->K ||
        P != model->n_params) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_VERSION,
                        "checkpoint: F=%u hidden=%u horizon=%u bptt=%u, the model has F=%d "
                        "hidden=%d horizon=%d bptt=%d",
                        (uint32_t)dc__get_le(p + 12, 4), (uint32_t)dc__get_le(p + 16, 4), (uint32_t)dc__get_le(p + 20, 4), (uint32_t)dc__get_le(p + 24, 4),
                        model->F, model->H, model->Hz, model->K);
        goto fail;
    }
    /* Decode into a copy first, so a bad file leaves the model as it was. */
    tmp = malloc(sizeof(float) * 3 * (size_t)P);
    if (!tmp) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "checkpoint: out of memory");
        goto fail;
    }
    if (!get_floats(p + HEADER_SIZE, tmp, 3 * (size_t)P)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_NUMERIC, "checkpoint: non-finite weights");
        goto fail;
    }
    double loss_mean;
    uint64_t lm = dc__get_le(p + 64, 8);
    memcpy(&loss_mean, &lm, 8);
    memcpy(model->params, tmp, sizeof(float) * P);
    memcpy(model->adam_m, tmp + P, sizeof(float) * P);
    memcpy(model->adam_v, tmp + 2 * (size_t)P, sizeof(float) * P);
    model->version = dc__get_le(p + 32, 8);
    model->adam_t = dc__get_le(p + 40, 8);
    model->skipped = dc__get_le(p + 48, 8);
    model->rollbacks = dc__get_le(p + 56, 8);
    model->loss_mean = isfinite(loss_mean) ? loss_mean : 0.0;
    /* A loaded model trusts its running loss as if warmed up, and its
     * weights are the last good ones. */
    model->loss_n = model->loss_mean > 0 ? DC__LOSS_WARMUP : 0;
    memcpy(model->snap_params, model->params, sizeof(float) * P);
    memcpy(model->snap_m, model->adam_m, sizeof(float) * P);
    memcpy(model->snap_v, model->adam_v, sizeof(float) * P);
    model->snap_t = model->adam_t;
    model->good_since_snap = 0;
fail:
    free(tmp);
    return err;
}

int dc_model_save_file(const dc_model_t *model, const char *path, char *errstr,
                       size_t errstr_size)
{
    dc_buf_t buf = {0};
    char *tmp = NULL;
    int fd = -1, err = dc_model_save(model, &buf);
    if (err) {
        dc_seterr(errstr, errstr_size, err, "checkpoint: %s", dc_err2str(err));
        goto fail;
    }
    size_t plen = strlen(path) + 5;
    tmp = malloc(plen);
    if (!tmp) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_NOMEM, "checkpoint: out of memory");
        goto fail;
    }
    snprintf(tmp, plen, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    for (size_t off = 0; off < buf.len;) {
        ssize_t w = write(fd, buf.data + off, buf.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
fail:
    if (fd >= 0)
        close(fd);
    if (err && tmp)
        unlink(tmp);
    free(tmp);
    dc_buf_free(&buf);
    return err;
}

int dc_model_load_file(dc_model_t *model, const char *path, char *errstr, size_t errstr_size)
{
    dc_buf_t buf = {0};
    int err = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    for (;;) {
        if ((err = dc_buf_reserve(&buf, 1 << 16))) {
            dc_seterr(errstr, errstr_size, err, "%s: out of memory", path);
            goto fail;
        }
        size_t r = fread(buf.data + buf.len, 1, buf.cap - buf.len, f);
        buf.len += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        err = dc_seterr(errstr, errstr_size, DC_ERR_IO, "%s: read error", path);
        goto fail;
    }
    err = dc_model_load(model, buf.data, buf.len, errstr, errstr_size);
fail:
    if (f)
        fclose(f);
    dc_buf_free(&buf);
    return err;
}
