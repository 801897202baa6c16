/*
 * corrupt: write one qrec file per rejected datagram into corrupt/ and
 * keep the directory within its cap; see corrupt.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base64.h"
#include "corrupt.h"
#include "qrec.h"
#include "utc_time.h"
#include "xalloc.h"

#define CORRUPT_RECOUNT_SECONDS 60
#define CORRUPT_HEADER_ESTIMATE 512 /* bytes of header, generously */

struct corrupt_datagram *corrupt_datagram_new(time_t received,
					      long long peer_uid, size_t size,
					      const void *data, size_t data_len,
					      const char *reason)
{
	struct corrupt_datagram *datagram =
	    xmalloc(sizeof(*datagram) + data_len);

	datagram->next = NULL;
	datagram->received = received;
	datagram->peer_uid = peer_uid;
	datagram->size = size;
	datagram->data_len = data_len;
	datagram->reason = xstrdup(reason);
	memcpy(datagram->data, data, data_len);
	return datagram;
}

void corrupt_datagram_free(struct corrupt_datagram *datagram)
{
	if (datagram == NULL)
		return;
	free(datagram->reason);
	free(datagram);
}

/* Count the files in corrupt/ and their bytes. */
static int count_directory(struct corrupt_store *store)
{
	char **names;
	size_t count;
	size_t i;

	if (queue_list(QUEUE_CORRUPT, &names, &count) != 0)
		return -1;
	store->files = count;
	store->bytes = 0;
	for (i = 0; i < count; i++) {
		char *path = xasprintf("%s/%s", QUEUE_CORRUPT, names[i]);
		struct stat st;

		/* A file deleted since the listing simply does not count. */
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			store->bytes += (unsigned long long)st.st_size;
		free(path);
	}
	queue_list_free(names, count);
	store->counted = utc_now();
	return 0;
}

int corrupt_store_init(struct corrupt_store *store, long long file_limit,
		       long long size_limit)
{
	memset(store, 0, sizeof(*store));
	store->file_limit = file_limit;
	store->size_limit = size_limit;
	return count_directory(store);
}

/* Base64 takes 4 bytes per 3, plus a line break per line. */
static unsigned long long estimate_file_size(size_t data_len)
{
	unsigned long long encoded = ((unsigned long long)data_len + 2) / 3 * 4;

	return CORRUPT_HEADER_ESTIMATE + encoded + encoded / CORRUPT_LINE_LEN +
	       1;
}

static bool over_limit(const struct corrupt_store *store, size_t data_len)
{
	return store->files >= (unsigned long long)store->file_limit ||
	       store->bytes + estimate_file_size(data_len) >
		   (unsigned long long)store->size_limit;
}

/* Write the file under tmp/; returns its size, or -1. */
static long write_file(struct queue_file *file,
		       const struct corrupt_datagram *datagram)
{
	char received[UTC_TIME_LEN + 1];
	char number[32];
	struct strbuf body;
	long size;

	utc_time_format(datagram->received, received);
	qrec_write_version(file->fp, CORRUPT_KIND, CORRUPT_VERSION);
	qrec_write_field(file->fp, "received", received);
	qrec_write_field(file->fp, "reason", datagram->reason);
	if (datagram->peer_uid >= 0)
		snprintf(number, sizeof(number), "%lld", datagram->peer_uid);
	else
		snprintf(number, sizeof(number), "-");
	qrec_write_field(file->fp, "peer-uid", number);
	snprintf(number, sizeof(number), "%zu", datagram->size);
	qrec_write_field(file->fp, "size", number);
	qrec_write_body_start(file->fp);

	strbuf_init(&body);
	base64_encode_lines(datagram->data, datagram->data_len,
			    CORRUPT_LINE_LEN, "\n", &body);
	fwrite(body.data, 1, body.len, file->fp);
	strbuf_free(&body);
	qrec_write_end(file->fp, datagram->data_len);

	size = ftell(file->fp);
	return ferror(file->fp) ? -1 : size;
}

enum corrupt_result corrupt_store_save(struct corrupt_store *store,
				       const struct corrupt_datagram *datagram,
				       char id[QUEUE_ID_LEN + 1],
				       struct strbuf *error)
{
	struct queue_file file;
	long size;

	/* Files the administrator removed make room again: count anew
	 * while the cap is reached, but not on every datagram of a flood. */
	if (over_limit(store, datagram->data_len) &&
	    utc_now() - store->counted >= CORRUPT_RECOUNT_SECONDS)
		count_directory(store);
	if (over_limit(store, datagram->data_len))
		return CORRUPT_OVER_LIMIT;

	if (queue_file_create(&file, CORRUPT_OWNER) != 0) {
		strbuf_printf(error, "cannot create a file in %s/: %s",
			      QUEUE_TMP, strerror(errno));
		return CORRUPT_FAILED;
	}
	memcpy(id, file.id, sizeof(file.id));
	size = write_file(&file, datagram);
	if (size < 0 || queue_file_commit(&file, QUEUE_CORRUPT, NULL) != 0) {
		strbuf_printf(error, "cannot write %s/%s: %s", QUEUE_CORRUPT,
			      id, strerror(errno));
		queue_file_abort(&file);
		return CORRUPT_FAILED;
	}
	store->files++;
	store->bytes += (unsigned long long)size;
	return CORRUPT_SAVED;
}

/* Describe which cap is reached, for the log line of a dropped file. */
void corrupt_store_describe_limit(const struct corrupt_store *store,
				  struct strbuf *out)
{
	if (store->files >= (unsigned long long)store->file_limit)
		strbuf_printf(out,
			      "%s/ holds %llu files "
			      "(receiver_corrupt_limit = %lld)",
			      QUEUE_CORRUPT, store->files, store->file_limit);
	else
		strbuf_printf(out,
			      "%s/ holds %llu bytes "
			      "(receiver_corrupt_size_limit = %lld)",
			      QUEUE_CORRUPT, store->bytes, store->size_limit);
}
