/* Preloaded before Debian's libfaketime by tests/faketime/run.
 *
 * With FAKETIME_DONT_FAKE_MONOTONIC=1, libfaketime moves the calendar and leaves the
 * stopwatch (CLOCK_MONOTONIC) alone, which is what a test of dates wants: timeouts, sleeps
 * and lock waits keep their real length. But libfaketime 0.9.10 still moves the deadline
 * of clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which is how Python's time.sleep
 * waits, so every sleep fails with EINVAL. This hands monotonic sleeps to the C library
 * untouched and every other clock's to libfaketime.
 *
 * (Faking the monotonic clock instead breaks Python's lock waits: libfaketime does not
 * intercept sem_clockwait, so a wait with a timeout never times out.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>

typedef int (*nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remain) {
    static nanosleep_fn faked, libc;
    if (!faked) {
        libc = (nanosleep_fn)dlsym(dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD),
                                   "clock_nanosleep");
        faked = (nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
    }
    return (clock == CLOCK_MONOTONIC ? libc : faked)(clock, flags, request, remain);
}
