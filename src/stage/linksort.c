/* linksort.c — see linksort.h. */
#include "stage/linksort.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* In-memory sort */

static int cmp_link(const void *a, const void *b)
{
    return memcmp(a, b, PL_LINK_KEY);
}

static void insertion_sort(uint8_t *a, size_t n)
{
    uint8_t t[PL_LINK_BYTES];
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        if (memcmp(a + (j - 1) * PL_LINK_BYTES, a + j * PL_LINK_BYTES,
                   PL_LINK_KEY) <= 0)
            continue;
        memcpy(t, a + i * PL_LINK_BYTES, PL_LINK_BYTES);
        while (j > 0 && memcmp(a + (j - 1) * PL_LINK_BYTES, t,
                               PL_LINK_KEY) > 0) {
            memcpy(a + j * PL_LINK_BYTES, a + (j - 1) * PL_LINK_BYTES,
                   PL_LINK_BYTES);
            j--;
        }
        memcpy(a + j * PL_LINK_BYTES, t, PL_LINK_BYTES);
    }
}

/* Records with the same first 4 pid bytes end up adjacent after the radix
 * passes; order each such group by the full key. Groups are small (one
 * person's records, rare prefix collisions) except on adversarial input,
 * where qsort keeps it n log n. */
static void finish_groups(uint8_t *a, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && memcmp(a + i * PL_LINK_BYTES, a + j * PL_LINK_BYTES,
                               4) == 0)
            j++;
        if (j - i > 32)
            qsort(a + i * PL_LINK_BYTES, j - i, PL_LINK_BYTES, cmp_link);
        else if (j - i > 1)
            insertion_sort(a + i * PL_LINK_BYTES, j - i);
        i = j;
    }
}

void pl_radix_sort_links(uint8_t *recs, uint8_t *tmp, size_t n)
{
    if (n < 64) {
        insertion_sort(recs, n);
        return;
    }
    /* One counting pass for the 4 digits (pid bytes 3, 2, 1, 0). */
    static __thread uint64_t cnt[4][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = recs + i * PL_LINK_BYTES;
        cnt[0][p[3]]++;
        cnt[1][p[2]]++;
        cnt[2][p[1]]++;
        cnt[3][p[0]]++;
    }
    uint8_t *src = recs, *dst = tmp;
    for (int pass = 0; pass < 4; pass++) {
        int byte = 3 - pass;
        uint64_t *c = cnt[pass];
        if (c[src[byte]] == n)      /* one bucket: the pass is a no-op */
            continue;
        uint64_t sum = 0;
        for (int d = 0; d < 256; d++) {
            uint64_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = src + i * PL_LINK_BYTES;
            memcpy(dst + c[p[byte]]++ * PL_LINK_BYTES, p, PL_LINK_BYTES);
        }
        uint8_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != recs)
        memcpy(recs, src, n * PL_LINK_BYTES);
    finish_groups(recs, n);
}

/* ------------------------------------------------------------------------ */
/* Runs and spilling */

void pl_linksort_init(pl_linksort *s, uint64_t cap, uint64_t merge_bytes,
                      const char *dir)
{
    memset(s, 0, sizeof *s);
    s->cap = cap ? cap : 1;
    s->fd = -1;
    s->merge_bytes = merge_bytes;
    snprintf(s->dir, sizeof s->dir, "%s", dir ? dir : ".");
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int sort_run(pl_linksort *s)
{
    if (s->n < 64) {
        insertion_sort(s->run, s->n);
        return 0;
    }
    /* Huge pages when large: the radix scatter writes to 256 places. */
    uint8_t *tmp = pl_malloc_huge(s->n * PL_LINK_BYTES);
    if (!tmp) {
        /* No room for the scatter buffer: comparison sort in place. */
        qsort(s->run, s->n, PL_LINK_BYTES, cmp_link);
        return 0;
    }
    pl_radix_sort_links(s->run, tmp, s->n);
    free(tmp);
    return 0;
}

static int spill(pl_linksort *s)
{
    if (s->fd < 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/.links-spill.XXXXXX", s->dir);
        s->fd = mkstemp(path);
        if (s->fd < 0) {
            pl_err("%s: cannot create the links spill file: %s", s->dir,
                   strerror(errno));
            return -1;
        }
        unlink(path);           /* scratch only: gone when closed */
    }
    sort_run(s);
    if (write_all(s->fd, s->run, s->n * PL_LINK_BYTES) != 0) {
        pl_err("%s: writing the links spill file: %s", s->dir,
               strerror(errno));
        return -1;
    }
    s->run_len = pl_xrealloc(s->run_len, (s->n_runs + 1) * sizeof *s->run_len);
    s->run_len[s->n_runs++] = s->n;
    s->spilled_bytes += s->n * PL_LINK_BYTES;
    s->n = 0;
    return 0;
}

int pl_linksort_add(pl_linksort *s, const uint8_t *recs, size_t n)
{
    while (n > 0) {
        if (!s->run)
            s->run = pl_xmalloc_huge(s->cap * PL_LINK_BYTES);
        if (s->n == s->cap && spill(s) != 0)
            return -1;
        uint64_t k = s->cap - s->n < n ? s->cap - s->n : n;
        memcpy(s->run + s->n * PL_LINK_BYTES, recs, k * PL_LINK_BYTES);
        s->n += k;
        s->total += k;
        recs += k * PL_LINK_BYTES;
        n -= k;
    }
    return 0;
}

int pl_linksort_finish(pl_linksort *s)
{
    if (s->fd < 0)
        return sort_run(s);
    if (s->n > 0 && spill(s) != 0)
        return -1;
    free(s->run);               /* the merge reads through small buffers */
    s->run = NULL;
    return 0;
}

void pl_linksort_free(pl_linksort *s)
{
    free(s->run);
    free(s->run_len);
    if (s->fd >= 0)
        close(s->fd);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

/* ------------------------------------------------------------------------ */
/* Read-back: memory, or k-way merge of the spilled runs */

static int refill(pl_linkiter *it, size_t r)
{
    uint64_t k = it->left[r] < it->bufrecs ? it->left[r] : it->bufrecs;
    size_t len = k * PL_LINK_BYTES;
    uint8_t *p = it->buf[r];
    off_t off = (off_t)(it->foff[r] * PL_LINK_BYTES);
    while (len > 0) {
        ssize_t g = pread(it->s->fd, p, len, off);
        if (g < 0 && errno == EINTR)
            continue;
        if (g <= 0) {
            pl_err("%s: reading the links spill file: %s", it->s->dir,
                   g < 0 ? strerror(errno) : "unexpected end of file");
            it->err = 1;
            return -1;
        }
        p += g;
        off += g;
        len -= (size_t)g;
    }
    it->foff[r] += k;
    it->left[r] -= k;
    it->bpos[r] = 0;
    it->blen[r] = k;
    return 0;
}

static const uint8_t *head(const pl_linkiter *it, size_t r)
{
    return it->buf[r] + it->bpos[r] * PL_LINK_BYTES;
}

static int less(const pl_linkiter *it, size_t a, size_t b)
{
    return memcmp(head(it, a), head(it, b), PL_LINK_KEY) < 0;
}

static void sift_down(pl_linkiter *it, size_t i)
{
    size_t *h = it->heap, n = it->nheap;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && less(it, h[l], h[m]))
            m = l;
        if (l + 1 < n && less(it, h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        size_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

int pl_linkiter_open(pl_linkiter *it, pl_linksort *s)
{
    memset(it, 0, sizeof *it);
    it->s = s;
    size_t k = s->n_runs;
    if (s->fd < 0 || k == 0)
        return 0;
    it->bufrecs = s->merge_bytes / PL_LINK_BYTES / k;
    if (it->bufrecs < 1024)
        it->bufrecs = 1024;
    it->buf = pl_xcalloc(k, sizeof *it->buf);
    it->bpos = pl_xcalloc(k, sizeof *it->bpos);
    it->blen = pl_xcalloc(k, sizeof *it->blen);
    it->foff = pl_xcalloc(k, sizeof *it->foff);
    it->left = pl_xcalloc(k, sizeof *it->left);
    it->heap = pl_xcalloc(k, sizeof *it->heap);
    uint64_t off = 0;
    for (size_t r = 0; r < k; r++) {
        it->buf[r] = pl_xmalloc(it->bufrecs * PL_LINK_BYTES);
        it->foff[r] = off;
        it->left[r] = s->run_len[r];
        off += s->run_len[r];
        if (it->left[r] == 0)
            continue;
        if (refill(it, r) != 0)
            return -1;
        it->heap[it->nheap++] = r;
    }
    for (size_t i = it->nheap; i-- > 0;)
        sift_down(it, i);
    return 0;
}

size_t pl_linkiter_next(pl_linkiter *it, uint8_t *out, size_t max)
{
    pl_linksort *s = it->s;
    if (s->fd < 0 || s->n_runs == 0) {
        uint64_t k = s->n - it->pos < max ? s->n - it->pos : max;
        if (k)                  /* an empty sort has no run buffer */
            memcpy(out, s->run + it->pos * PL_LINK_BYTES, k * PL_LINK_BYTES);
        it->pos += k;
        return k;
    }
    size_t got = 0;
    while (got < max && it->nheap > 0 && !it->err) {
        size_t r = it->heap[0];
        memcpy(out + got++ * PL_LINK_BYTES, head(it, r), PL_LINK_BYTES);
        if (++it->bpos[r] == it->blen[r]) {
            if (it->left[r] == 0) {
                it->heap[0] = it->heap[--it->nheap];
            } else if (refill(it, r) != 0) {
                return 0;
            }
        }
        if (it->nheap > 0)
            sift_down(it, 0);
    }
    return it->err ? 0 : got;
}

void pl_linkiter_close(pl_linkiter *it)
{
    for (size_t r = 0; it->buf && r < it->s->n_runs; r++)
        free(it->buf[r]);
    free(it->buf); free(it->bpos); free(it->blen); free(it->foff);
    free(it->left); free(it->heap);
    memset(it, 0, sizeof *it);
}
