/* risk.h — re-identification risk of an extract: k-anonymity and
 * l-diversity over the generalised quasi-identifiers, as a distributed
 * group-by.
 *
 * Each record is reduced to a class key (SHA-256 of its generalised
 * quasi-identifier values, 16 bytes), its project pseudonym and a hash of
 * its sensitive value. Records go to the rank owning their class key
 * (range partition, pl_owner_of), which counts per class the records, the
 * distinct persons and the distinct sensitive values; the persons of small
 * classes then go to the owner of their pseudonym to be counted once.
 * A class's size is its number of distinct persons (five stays of one
 * patient are one person, not five). Only counts leave this module.
 */
#ifndef PL_RISK_H
#define PL_RISK_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define PL_RISK_CLASS 16
#define PL_RISK_REC   40        /* class 16 | pseudonym 16 | sensitive 8 */

typedef struct {
    uint64_t records;           /* records evaluated */
    uint64_t classes;           /* equivalence classes */
    uint64_t smallest;          /* persons in the smallest class (0: none) */
    uint64_t small_classes;     /* classes with fewer than k persons */
    uint64_t records_small;     /* records in those classes */
    uint64_t persons_small;     /* distinct persons in those classes */
    uint64_t l_min;             /* fewest distinct sensitive values in a
                                   class (0 when no sensitive column) */
    uint64_t classes_below_l;   /* classes with fewer than l values */
} pl_risk_stats;

/* Collective. `recs` holds n local records of PL_RISK_REC bytes. */
int pl_risk_eval(MPI_Comm comm, const uint8_t *recs, uint64_t n, uint64_t k,
                 uint64_t l, uint64_t cap, int has_sensitive,
                 pl_risk_stats *out);

#endif
