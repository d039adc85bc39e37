/* digest.h — file digests that many ranks compute together.
 *
 * The "pseudolink Merkle digest v1" of a file of `size` bytes with leaf size
 * L (PL_DIGEST_LEAF = 4 MiB unless recorded otherwise):
 *   n      = ceil(size / L)                    (0 for an empty file)
 *   leaf_i = SHA-256(bytes [i*L, min((i+1)*L, size)))     i = 0..n-1
 *   root   = SHA-256(u64be(size) || u64be(L) || leaf_0 || ... || leaf_{n-1})
 * Leaves are independent, so ranks hash contiguous runs of leaves with
 * pread() and rank 0 combines them; one core never reads a terabyte alone.
 * Each rank hashes its full leaves 16 (AVX-512) or 8 (AVX2) at a time with
 * the multi-buffer SHA-256 kernels; 4 MiB leaves keep the lanes full on
 * files of a few hundred MiB per rank.
 * docs/AUDIT.md has a ten-line Python script that recomputes it.
 */
#ifndef PL_DIGEST_H
#define PL_DIGEST_H

#include <mpi.h>
#include <stdint.h>

#define PL_DIGEST_LEAF (4ULL << 20)

/* Serial: whole file on this process (verify, keygen). Returns 0 or -1
 * after a message naming the file. */
int pl_digest_file(const char *path, uint64_t leaf, uint8_t root[32],
                   uint64_t *size);

/* Collective over comm: every rank hashes its share of the leaves; the root
 * and size are valid on every rank. Returns a status all ranks agree on;
 * errors are reported by the rank that saw them (quiet: no message). */
int pl_digest_file_mpi(const char *path, uint64_t leaf, MPI_Comm comm,
                       uint8_t root[32], uint64_t *size, int quiet);

#endif
