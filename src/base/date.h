/* date.h — the proleptic Gregorian calendar, written once (synth's
 * birth and care dates, the linkage's "within k days" comparisons).
 * Pure functions, no validation: callers check their dates first. */
#ifndef PL_BASE_DATE_H
#define PL_BASE_DATE_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31). */
int64_t pl_days_from_civil(int64_t y, int64_t m, int64_t d);

/* The date of day z since 1970-01-01, as the integer YYYYMMDD. */
int32_t pl_civil_from_days(int64_t z);

#endif
