/* tests/tsan/c11_threads.c - C11 threads over their POSIX counterparts, for
 * ThreadSanitizer builds only (DC_TSAN), preloaded into every process a test
 * starts.
 *
 * librdkafka runs its threads and locks through C11 threads. glibc
 * implements thrd_create, mtx_lock and cnd_wait on its internal pthread
 * functions, past ThreadSanitizer's interceptors: a librdkafka thread then
 * starts without the sanitizer's per-thread state and crashes on its first
 * malloc, and its locks order nothing as far as the sanitizer can tell.
 * Defined here on the public pthread functions, which the sanitizer does
 * intercept, they work as they should. Built without instrumentation, so
 * that processes not built with the sanitizer (bash, redis-server) load it
 * too. glibc's mtx_t and cnd_t have the size and layout of pthread_mutex_t
 * and pthread_cond_t. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

typedef struct {
    thrd_start_t start;
    void *arg;
} launch_t;

static void *launch(void *p)
{
    launch_t l = *(launch_t *)p;
    free(p);
    return (void *)(intptr_t)l.start(l.arg);
}

static int thrd_result(int err)
{
    switch (err) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    default: return thrd_error;
    }
}

int thrd_create(thrd_t *thr, thrd_start_t start, void *arg)
{
    launch_t *l = malloc(sizeof(*l));
    if (!l)
        return thrd_nomem;
    l->start = start;
    l->arg = arg;
    int err = pthread_create((pthread_t *)thr, NULL, launch, l);
    if (err)
        free(l);
    return thrd_result(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret;
    int err = pthread_join((pthread_t)thr, &ret);
    if (!err && res)
        *res = (int)(intptr_t)ret;
    return thrd_result(err);
}

int thrd_detach(thrd_t thr) { return thrd_result(pthread_detach((pthread_t)thr)); }

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int err = pthread_mutex_init((pthread_mutex_t *)m, &attr);
    pthread_mutexattr_destroy(&attr);
    return thrd_result(err);
}

int mtx_lock(mtx_t *m) { return thrd_result(pthread_mutex_lock((pthread_mutex_t *)m)); }
int mtx_trylock(mtx_t *m) { return thrd_result(pthread_mutex_trylock((pthread_mutex_t *)m)); }
int mtx_unlock(mtx_t *m) { return thrd_result(pthread_mutex_unlock((pthread_mutex_t *)m)); }
void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict at)
{
    return thrd_result(pthread_mutex_timedlock((pthread_mutex_t *)m, at));
}

int cnd_init(cnd_t *c) { return thrd_result(pthread_cond_init((pthread_cond_t *)c, NULL)); }
int cnd_signal(cnd_t *c) { return thrd_result(pthread_cond_signal((pthread_cond_t *)c)); }
int cnd_broadcast(cnd_t *c) { return thrd_result(pthread_cond_broadcast((pthread_cond_t *)c)); }
void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return thrd_result(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

/* C11's deadline is TIME_UTC, the realtime clock a default condition
 * variable waits on. */
int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict at)
{
    return thrd_result(
        pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, at));
}
