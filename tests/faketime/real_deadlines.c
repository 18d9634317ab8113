/* Preloaded before Debian's libfaketime by tests/faketime/run.
 *
 * libfaketime moves every clock, the monotonic one too, and translates the deadlines of the
 * waits it knows (pthread_cond_timedwait, sem_timedwait, clock_nanosleep) back to the real
 * clock. Version 0.9.10 does not know sem_clockwait and pthread_cond_clockwait, which
 * glibc 2.30 added and which Python's lock waits and C++'s std::condition_variable use: a
 * deadline read from the moved clock reaches the C library as a moment a year away, and a
 * wait with a timeout never times out. This translates those two deadlines too.
 *
 * (Leaving the monotonic clock alone instead, FAKETIME_DONT_FAKE_MONOTONIC=1, is worse:
 * libfaketime then still moves monotonic sleep and wait deadlines, so time.sleep fails with
 * EINVAL and threads wait on each other for seconds.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The deadline `moved`, read from the moved `clock`, as the same moment of the real one. */
static struct timespec real_deadline(clockid_t clock, const struct timespec *moved) {
    struct timespec moved_now, real_now, real;
    clock_gettime(clock, &moved_now);              /* through libfaketime */
    syscall(SYS_clock_gettime, clock, &real_now);  /* around it */
    long long left_s = (long long)moved->tv_sec - moved_now.tv_sec;
    long long left_ns = (long long)moved->tv_nsec - moved_now.tv_nsec;
    if (left_s < 0 || (left_s == 0 && left_ns < 0)) left_s = left_ns = 0;
    /* Seconds and nanoseconds apart: a wait "forever" (about 292 years) must not overflow. */
    left_ns += real_now.tv_nsec;
    left_s += left_ns / 1000000000LL;
    left_ns %= 1000000000LL;
    if (left_ns < 0) {
        left_ns += 1000000000LL;
        left_s -= 1;
    }
    real.tv_sec = real_now.tv_sec + left_s;
    real.tv_nsec = left_ns;
    return real;
}

int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *abstime) {
    static int (*next)(sem_t *, clockid_t, const struct timespec *);
    if (!next) next = dlsym(RTLD_NEXT, "sem_clockwait");
    struct timespec real = real_deadline(clock, abstime);
    return next(sem, clock, &real);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock,
                           const struct timespec *abstime) {
    static int (*next)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
    if (!next) next = dlsym(RTLD_NEXT, "pthread_cond_clockwait");
    struct timespec real = real_deadline(clock, abstime);
    return next(cond, mutex, clock, &real);
}
