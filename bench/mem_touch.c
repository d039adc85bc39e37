/* mem_touch.c — how fast this machine gives a process fresh memory, for
 * `make bench` (bench/linkage.sh prints it beside the linkage's times).
 *
 * A large run's wall time follows the memory it touches for the first
 * time: each new page is a fault, and on a virtual machine whose host
 * takes freed guest memory back (Firecracker's free page reporting, a
 * balloon) each new page is a fault on the host too. On the 2-vCPU test
 * VM a first touch ran at 1.3-1.8 GB/s (4 KiB pages) and 0.3-5.8 GB/s
 * (2 MiB pages, asked by madvise as base/mem.c does), against 23-25 GB/s
 * for writing the same pages again: the 10 M linkage's ~5.5 GiB a rank
 * are several seconds of faults, and vary from run to run.
 *
 * Prints "mem_touch.first_4k <GB/s>", "mem_touch.first_2m <GB/s>" and
 * "mem_touch.warm <GB/s>" (MEM_TOUCH_MIB, default 512 MiB, mapped afresh
 * for each). No MPI.
 */
#define _DEFAULT_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* GB/s of a first memset over a fresh mapping (huge: MADV_HUGEPAGE);
 * *warm: of a second one. */
static double touch(size_t n, int huge, double *warm)
{
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mem_touch: mmap");
        exit(1);
    }
    if (huge)
        (void)madvise(p, n, MADV_HUGEPAGE);    /* advice only */
    double t0 = now();
    memset(p, 1, n);
    double t1 = now();
    memset(p, 2, n);
    double t2 = now();
    if (warm)
        *warm = (double)n / 1e9 / (t2 - t1);
    munmap(p, n);
    return (double)n / 1e9 / (t1 - t0);
}

int main(void)
{
    const char *e = getenv("MEM_TOUCH_MIB");
    size_t mib = e && atol(e) > 0 ? (size_t)atol(e) : 512;
    double warm = 0;
    double f4 = touch(mib << 20, 0, &warm);
    double f2 = touch(mib << 20, 1, NULL);
    printf("mem_touch.first_4k %.2f\nmem_touch.first_2m %.2f\n"
           "mem_touch.warm %.2f\n", f4, f2, warm);
    return 0;
}
