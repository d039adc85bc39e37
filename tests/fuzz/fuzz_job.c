/* fuzz_job.c — libFuzzer target: the job-file parser (yamltree + config).
 * Any byte string must give 0 or -1, never a crash, leak or UB. quiet=1, so
 * nothing is printed. Built by tests/e2e/fuzz.sh (clang -fsanitize=fuzzer). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "job/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_job job;
    memset(&job, 0, sizeof job);
    if (pl_job_parse(&job, "fuzz.yaml", (const char *)data, size, 1) == 0)
        pl_job_free(&job);
    else
        pl_job_free(&job);      /* must be safe on a failed parse too */
    return 0;
}
