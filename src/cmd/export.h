/* export.h — pseudolink export FILE.h5 --source NAME [--csv OUT|-]
 *
 * Writes one group of an output file (a source's /linked/<source>, /links,
 * /persons or /rejects/<source> of linked.h5 or of an extract) as CSV with
 * a header, RFC 4180 (docs/FORMATS.md section 7): enums as their labels,
 * 2-D uint8 pids as hex, dates (date_format attribute) as ISO 8601,
 * /links/source as the source name. Refuses the correspondence table,
 * recognised by its attributes and groups, not its name. One process,
 * serial HDF5: no MPI needed.
 *
 * Returns the exit status: 0 written, 1 error (a message naming the file
 * and the object; OUT is then left as it was), 2 usage.
 */
#ifndef PL_CMD_EXPORT_H
#define PL_CMD_EXPORT_H

int pl_export_main(int argc, char **argv);

#endif
