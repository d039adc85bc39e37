/* progress.c — see progress.h. */
#include "base/progress.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct {
    double   interval;          /* s; 0 = no periodic lines */
    char     name[128], unit[16];
    uint64_t total, done;
    double   t_stage, t_last;   /* monotonic s */
    int      started;
} P = {10.0, "", "", 0, 0, 0, 0, 0};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void pl_progress_init(double interval_s)
{
    P.interval = interval_s > 0 ? interval_s : 0;
}

void pl_progress_say(const char *fmt, ...)
{
    if (pl_log_rank() != 0)
        return;
    char raw[4096], buf[PL_LOG_LINE], ts[PL_LOG_TIME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    pl_log_escape(raw, buf, sizeof buf);
    pl_log_time(ts);
    printf("%s %s\n", ts, buf);
    fflush(stdout);
}

void pl_progress_stage(const char *name, uint64_t total, const char *unit)
{
    snprintf(P.name, sizeof P.name, "%s", name);
    snprintf(P.unit, sizeof P.unit, "%s", unit ? unit : "rows");
    P.total = total;
    P.done = 0;
    P.t_stage = P.t_last = now();
    P.started = 1;
    if (total)
        pl_progress_say("stage %s: %llu %s", P.name,
                        (unsigned long long)total, P.unit);
    else
        pl_progress_say("stage %s", P.name);
}

/* "14 s", "3 min 20 s", "2 h 05 min" */
static void duration(double s, char *out, size_t n)
{
    unsigned long long t = s > 0 ? (unsigned long long)(s + 0.5) : 0;
    if (t < 60)
        snprintf(out, n, "%llu s", t);
    else if (t < 3600)
        snprintf(out, n, "%llu min %02llu s", t / 60, t % 60);
    else
        snprintf(out, n, "%llu h %02llu min", t / 3600, t / 60 % 60);
}

static double percent(void)
{
    return P.total ? 100.0 * (double)P.done / (double)P.total : 0.0;
}

void pl_progress_set(uint64_t done)
{
    P.done = P.total && done > P.total ? P.total : done;
    if (P.interval <= 0 || pl_log_rank() != 0 || !P.started)
        return;
    double t = now();
    if (t - P.t_last < P.interval)
        return;
    P.t_last = t;
    double el = t - P.t_stage, rate = el > 0 ? (double)P.done / el : 0;
    char eta[48] = "ETA unknown";
    if (P.total && rate > 0) {
        char d[32];
        double left = (double)(P.total - P.done) / rate;
        /* Beyond 100 years (a first batch far slower than the rest, a
         * huge total) the figure means nothing, and past 2^64 s its
         * conversion to an integer would be undefined. */
        if (left > 100 * 365.25 * 86400)
            snprintf(eta, sizeof eta, "ETA more than 100 years");
        else {
            duration(left, d, sizeof d);
            snprintf(eta, sizeof eta, "ETA %s", d);
        }
    }
    if (P.total)
        pl_progress_say("progress %s: %llu of %llu %s (%.1f %%), %.0f %s/s, "
                        "%s", P.name, (unsigned long long)P.done,
                        (unsigned long long)P.total, P.unit, percent(), rate,
                        P.unit, eta);
    else
        pl_progress_say("progress %s: %llu %s, %.0f %s/s", P.name,
                        (unsigned long long)P.done, P.unit, rate, P.unit);
}

uint64_t pl_progress_estimate(uint64_t base, uint64_t batches,
                              uint64_t batch_rows, int ranks, uint64_t part)
{
    uint64_t per = batch_rows * (uint64_t)(ranks > 0 ? ranks : 1);
    uint64_t d = per && batches > part / per ? part : batches * per;
    return base + (d < part ? d : part);
}

void pl_progress_where(char *out, size_t n)
{
    if (!P.started) {
        snprintf(out, n, "before the first stage");
        return;
    }
    char d[32];
    duration(now() - P.t_stage, d, sizeof d);
    if (P.total)
        snprintf(out, n, "stage %s, %llu of %llu %s done (%.1f %%), %s into "
                 "it", P.name, (unsigned long long)P.done,
                 (unsigned long long)P.total, P.unit, percent(), d);
    else
        snprintf(out, n, "stage %s, %s into it", P.name, d);
}
