/*
 * batch_file: the receiver's batches of validated datagrams (incoming/).
 *
 *	tlsrptd-batch 1
 *	created: 2026-12-04T20:33:03Z
 *	host: mx1.example.net
 *
 *	2026-12-04T20:33:03Z {"dpv":"1","d":"example.com",...}
 *	...
 *	end 2
 *
 * Each body line is one datagram, its JSON text on one line (see
 * datagram_line()), after the UTC time the receiver read it. That time
 * decides the day the datagram counts for. The end record counts the
 * body lines.
 *
 * The writer appends lines to a file under tmp/ and pushes each drained
 * group to the kernel with batch_writer_flush(), so a receiver killed
 * with SIGKILL loses nothing it had flushed: batch_recover() at the next
 * start keeps every whole line, drops a torn last line and adds the end
 * record; it returns 1 when the file was cut before its header was
 * complete, so there is nothing to keep. The repaired copy is written
 * and fsync'ed beside the file and renamed over it, so a failed repair
 * leaves the file as it was. Only an operating-system crash can lose the
 * unsynced tail.
 */
#ifndef TLSRPTD_BATCH_FILE_H
#define TLSRPTD_BATCH_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "queue_file.h"
#include "strbuf.h"
#include "utc_time.h"

#define BATCH_KIND	"batch"
#define BATCH_VERSION	1
#define BATCH_MAX_FILE	(512 * 1024 * 1024)	/* refuse larger files */

struct batch_writer {
	struct queue_file file;
	unsigned long long count;	/* datagrams appended */
	time_t opened;

	/* The receive time of the last line, formatted once for all the
	 * lines of a drained group. */
	time_t stamp_time;
	char stamp[UTC_TIME_LEN + 1];	/* "" until the first line */
};

int batch_writer_open(struct batch_writer *batch, const char *owner);
int batch_writer_append(struct batch_writer *batch, time_t received,
			const char *json, size_t len);
int batch_writer_flush(struct batch_writer *batch);
int batch_writer_commit(struct batch_writer *batch);
void batch_writer_abort(struct batch_writer *batch);

typedef int (*batch_visitor)(time_t received, const char *json, size_t len,
			     void *context);

int batch_read(const char *path, batch_visitor visit, void *context,
	       struct strbuf *error);
int batch_recover(const char *tmp_path, unsigned long long *kept,
		  unsigned long long *dropped, struct strbuf *error);

#endif
