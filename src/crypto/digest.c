/* digest.c — see digest.h. */
#include "crypto/digest.h"
#include "base/log.h"
#include "crypto/sha256mb.h"
#include "base/mem.h"
#include "par/mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (4u << 20)
#define LANE_CHUNK (256u << 10)  /* per lane and read, multi-buffer path */

static uint64_t n_leaves(uint64_t size, uint64_t leaf)
{
    return size / leaf + (size % leaf != 0);
}

static int read_full(int fd, const char *path, uint8_t *buf, size_t want,
                     uint64_t off, int quiet)
{
    while (want > 0) {
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (!quiet)
                pl_err("%s: cannot read at offset %llu for its digest: %s",
                       path, (unsigned long long)off,
                       got < 0 ? strerror(errno) : "file shrank");
            return -1;
        }
        buf += got;
        want -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* One leaf with OpenSSL (a short last leaf, or no multi-buffer kernel). */
static int hash_one(int fd, const char *path, uint64_t off, uint64_t end,
                    uint8_t *buf, uint8_t out[32], int quiet)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    int rc = 0;
    while (off < end && rc == 0) {
        size_t want = end - off < READ_CHUNK ? (size_t)(end - off) : READ_CHUNK;
        rc = read_full(fd, path, buf, want, off, quiet);
        if (rc == 0)
            EVP_DigestUpdate(ctx, buf, want);
        off += want;
    }
    if (rc == 0)
        EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* nl (<= lanes) full leaves i0.. at once, one per SIMD lane: without
 * SHA-NI one SHA-256 stream runs at ~0.4 GB/s, 16 streams side by side
 * at several times that (src/sha256mb.h). Leaves have the same length, a
 * multiple of 64, so every lane takes the same blocks and the same final
 * padding block; unused lanes hash zeros and are ignored. */
static int hash_group(int fd, const char *path, uint64_t leaf, uint64_t i0,
                      size_t nl, const pl_sha256mb *k, uint8_t *buf,
                      uint8_t *out, int quiet)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                   0xa54ff53a, 0x510e527f, 0x9b05688c,
                                   0x1f83d9ab, 0x5be0cd19};
    size_t L = k->lanes, CH = LANE_CHUNK;
    uint32_t st[8 * PL_MB_LANES_MAX];
    for (int w = 0; w < 8; w++)
        for (size_t j = 0; j < L; j++)
            st[w * L + j] = h0[w];
    for (uint64_t done = 0; done < leaf;) {
        size_t c = leaf - done < CH ? (size_t)(leaf - done) : CH;
        for (size_t j = 0; j < nl; j++)
            if (read_full(fd, path, buf + j * CH, c, (i0 + j) * leaf + done,
                          quiet) != 0)
                return -1;
        for (size_t b = 0; b < c; b += 64)
            k->compress(st, buf + b, CH);
        done += c;
    }
    uint64_t bits = leaf * 8;
    for (size_t j = 0; j < L; j++) {
        uint8_t *p = buf + j * CH;
        memset(p, 0, 64);
        p[0] = 0x80;
        for (int b = 0; b < 8; b++)
            p[63 - b] = (uint8_t)(bits >> (8 * b));
    }
    k->compress(st, buf, CH);
    for (size_t j = 0; j < nl; j++)
        for (int w = 0; w < 8; w++) {
            uint32_t v = st[w * L + j];
            uint8_t *o = out + j * 32 + 4 * w;
            o[0] = (uint8_t)(v >> 24);
            o[1] = (uint8_t)(v >> 16);
            o[2] = (uint8_t)(v >> 8);
            o[3] = (uint8_t)v;
        }
    return 0;
}

/* Hash leaves [first, last) of the open file into out[(last-first)*32]:
 * full leaves a lane group at a time when a multi-buffer kernel runs, the
 * rest (the short last leaf) one by one. */
static int hash_leaves(int fd, const char *path, uint64_t size, uint64_t leaf,
                       uint64_t first, uint64_t last, uint8_t *out, int quiet)
{
    const pl_sha256mb *k = pl_sha256mb_active();
    int multi = k->lanes > 1 && leaf % 64 == 0;
    size_t bsz = multi ? k->lanes * LANE_CHUNK : READ_CHUNK;
    uint8_t *buf = pl_xcalloc(1, bsz < READ_CHUNK ? READ_CHUNK : bsz);
    uint64_t full = size / leaf < last ? size / leaf : last, i = first;
    int rc = 0;
    while (multi && i < full && rc == 0) {
        size_t nl = full - i < k->lanes ? (size_t)(full - i) : k->lanes;
        rc = hash_group(fd, path, leaf, i, nl, k, buf, out + (i - first) * 32,
                        quiet);
        i += nl;
    }
    for (; i < last && rc == 0; i++) {
        uint64_t off = i * leaf, end = off + leaf < size ? off + leaf : size;
        rc = hash_one(fd, path, off, end, buf, out + (i - first) * 32, quiet);
    }
    free(buf);
    return rc;
}

static void combine(uint64_t size, uint64_t leaf, const uint8_t *leaves,
                    uint64_t n, uint8_t root[32])
{
    uint8_t hdr[16];
    for (int i = 0; i < 8; i++) {
        hdr[i] = (uint8_t)(size >> (56 - 8 * i));
        hdr[8 + i] = (uint8_t)(leaf >> (56 - 8 * i));
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, hdr, sizeof hdr);
    if (n)
        EVP_DigestUpdate(ctx, leaves, (size_t)n * 32);
    EVP_DigestFinal_ex(ctx, root, NULL);
    EVP_MD_CTX_free(ctx);
}

static int open_regular(const char *path, uint64_t *size, int quiet)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (!quiet)
            pl_err("%s: cannot open for its digest: %s", path,
                   fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *size = (uint64_t)sb.st_size;
    return fd;
}

int pl_digest_file(const char *path, uint64_t leaf, uint8_t root[32],
                   uint64_t *size)
{
    if (leaf == 0) {
        pl_err("%s: digest leaf size must be positive", path);
        return -1;
    }
    int fd = open_regular(path, size, 0);
    if (fd < 0)
        return -1;
    uint64_t n = n_leaves(*size, leaf);
    uint8_t *leaves = pl_xmalloc(n ? n * 32 : 1);
    int rc = hash_leaves(fd, path, *size, leaf, 0, n, leaves, 0);
    close(fd);
    if (rc == 0)
        combine(*size, leaf, leaves, n, root);
    free(leaves);
    return rc;
}

int pl_digest_file_mpi(const char *path, uint64_t leaf, MPI_Comm comm,
                       uint8_t root[32], uint64_t *size, int quiet)
{
    int rank, nr, ok = leaf > 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nr);
    /* Rank 0 decides the size so every rank splits the same leaves. */
    uint64_t sz = 0;
    int fd = -1;
    if (rank == 0 && ok)
        ok = (fd = open_regular(path, &sz, quiet)) >= 0;
    ok = pl_root_ok(comm, ok);
    PL_MPI_CHECK(MPI_Bcast(&sz, 1, MPI_UINT64_T, 0, comm));
    if (!ok)
        return -1;
    uint64_t n = n_leaves(sz, leaf), dummy;
    uint64_t first = n * (uint64_t)rank / (uint64_t)nr;
    uint64_t last = n * (uint64_t)(rank + 1) / (uint64_t)nr;
    if (rank != 0 && first < last)
        ok = (fd = open_regular(path, &dummy, quiet)) >= 0;
    uint8_t *mine = pl_xmalloc(last > first ? (last - first) * 32 : 1);
    if (ok && first < last)
        ok = hash_leaves(fd, path, sz, leaf, first, last, mine, quiet) == 0;
    if (fd >= 0)
        close(fd);
    ok = pl_all_ok(comm, ok);
    uint8_t *all = NULL;
    int *counts = NULL, *displs = NULL;
    /* Gatherv counts are int: 32 bytes per 4 MiB leaf keeps them small
     * (2^31 bytes of hashes = 256 TiB of file). */
    if (ok && rank == 0) {
        all = pl_xmalloc(n ? n * 32 : 1);
        counts = pl_xmalloc(sizeof *counts * (size_t)nr);
        displs = pl_xmalloc(sizeof *displs * (size_t)nr);
        for (int r = 0; r < nr; r++) {
            uint64_t f = n * (uint64_t)r / (uint64_t)nr;
            uint64_t l = n * (uint64_t)(r + 1) / (uint64_t)nr;
            counts[r] = (int)((l - f) * 32);
            displs[r] = (int)(f * 32);
        }
    }
    if (ok)
        PL_MPI_CHECK(MPI_Gatherv(mine, (int)((last - first) * 32), MPI_BYTE,
                                 all, counts, displs, MPI_BYTE, 0, comm));
    if (ok && rank == 0)
        combine(sz, leaf, all, n, root);
    if (ok)
        PL_MPI_CHECK(MPI_Bcast(root, 32, MPI_BYTE, 0, comm));
    free(mine);
    free(all);
    free(counts);
    free(displs);
    *size = sz;
    return ok ? 0 : -1;
}
