/*
 * delivery_file: write and read report delivery files; see
 * delivery_file.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "delivery_file.h"
#include "qrec.h"
#include "utc_time.h"
#include "xalloc.h"

static void write_text(FILE *fp, const char *name, const char *value)
{
	qrec_write_field(fp, name, value != NULL && value[0] != '\0' ? value
			 : "-");
}

static void write_time(FILE *fp, const char *name, time_t when)
{
	char text[UTC_TIME_LEN + 1];

	if (when == 0) {
		qrec_write_field(fp, name, "-");
		return;
	}
	utc_time_format(when, text);
	qrec_write_field(fp, name, text);
}

static void write_content(FILE *fp, const struct delivery *delivery)
{
	struct strbuf payload;
	char attempts[32];

	qrec_write_version(fp, DELIVERY_KIND, DELIVERY_VERSION);
	write_text(fp, "report-id", delivery->report_id);
	write_text(fp, "report-domain", delivery->report_domain);
	write_text(fp, "day", delivery->day);
	write_text(fp, "destination", delivery->destination);
	write_text(fp, "rua", delivery->rua);
	write_text(fp, "submitter", delivery->submitter);
	write_text(fp, "filename", delivery->filename);
	write_text(fp, "created", delivery->created);
	snprintf(attempts, sizeof(attempts), "%u", delivery->attempts);
	qrec_write_field(fp, "attempts", attempts);
	write_time(fp, "first-attempt", delivery->first_attempt);
	write_time(fp, "next-attempt", delivery->next_attempt);
	write_text(fp, "last-error", delivery->last_error);
	qrec_write_body_start(fp);

	strbuf_init(&payload);
	base64_encode_lines(delivery->payload, delivery->payload_len, 76, "\n",
			    &payload);
	fwrite(payload.data, 1, payload.len, fp);
	strbuf_free(&payload);
	qrec_write_end(fp, delivery->payload_len);
}

/*
 * Write the delivery as a new queue file in dir. With id NULL the file
 * gets a new queue ID; otherwise it keeps id (a file that moves between
 * directories). The ID used is copied to new_id when that is not NULL.
 * A failed write leaves nothing behind, neither in tmp/ nor in dir.
 */
int delivery_write(const struct delivery *delivery, const char *owner,
		   const char *dir, const char *id, char new_id[QUEUE_ID_LEN + 1])
{
	struct queue_file file;

	if (queue_file_create(&file, owner) != 0)
		return -1;
	write_content(file.fp, delivery);
	if (new_id != NULL)
		snprintf(new_id, QUEUE_ID_LEN + 1, "%s", id ? id : file.id);
	if (queue_file_commit(&file, dir, id) != 0) {
		queue_file_abort(&file);
		return -1;
	}
	return 0;
}

/*
 * Write the delivery as a new file of batch, which commits it under its
 * new queue ID (copied to new_id) with the other files of the batch.
 * Returns 0, or -1 with errno set and nothing added.
 */
int delivery_stage(const struct delivery *delivery, const char *owner,
		   struct queue_batch *batch, char new_id[QUEUE_ID_LEN + 1])
{
	struct queue_file file;

	if (queue_file_create(&file, owner) != 0)
		return -1;
	errno = 0;
	write_content(file.fp, delivery);
	if (ferror(file.fp)) {
		int saved = errno != 0 ? errno : EIO;

		queue_file_abort(&file);
		errno = saved;
		return -1;
	}
	snprintf(new_id, QUEUE_ID_LEN + 1, "%s", file.id);
	queue_batch_add(batch, &file);
	return 0;
}

static char *copy_text(const struct qrec *rec, const char *name)
{
	const char *value = qrec_get(rec, name);

	if (value == NULL || strcmp(value, "-") == 0)
		return xstrdup("");
	return xstrdup(value);
}

static int copy_time(const struct qrec *rec, const char *name, time_t *when)
{
	const char *value = qrec_get(rec, name);

	*when = 0;
	if (value == NULL || strcmp(value, "-") == 0)
		return 0;
	return utc_time_parse(value, when);
}

static int copy_fields(const struct qrec *rec, struct delivery *delivery,
		       struct strbuf *error)
{
	const char *attempts = qrec_get(rec, "attempts");
	char *end;
	unsigned long count;

	delivery->report_id = copy_text(rec, "report-id");
	delivery->report_domain = copy_text(rec, "report-domain");
	delivery->day = copy_text(rec, "day");
	delivery->destination = copy_text(rec, "destination");
	delivery->rua = copy_text(rec, "rua");
	delivery->submitter = copy_text(rec, "submitter");
	delivery->filename = copy_text(rec, "filename");
	delivery->created = copy_text(rec, "created");
	delivery->last_error = copy_text(rec, "last-error");
	if (delivery->report_id[0] == '\0'
	    || delivery->destination[0] == '\0') {
		strbuf_puts(error, "missing report-id or destination header");
		return -1;
	}
	errno = 0;
	count = attempts != NULL ? strtoul(attempts, &end, 10) : 0;
	if (attempts == NULL || errno != 0 || *end != '\0'
	    || count > DELIVERY_MAX_ATTEMPTS) {
		strbuf_puts(error, "missing or invalid attempts header");
		return -1;
	}
	delivery->attempts = (unsigned)count;
	if (copy_time(rec, "first-attempt", &delivery->first_attempt) != 0
	    || copy_time(rec, "next-attempt", &delivery->next_attempt) != 0) {
		strbuf_puts(error, "invalid first-attempt or next-attempt "
			    "header");
		return -1;
	}
	return 0;
}

int delivery_read(const char *path, struct delivery *delivery,
		  struct strbuf *error)
{
	struct qrec rec;
	int status = -1;

	memset(delivery, 0, sizeof(*delivery));
	if (qrec_read(path, DELIVERY_MAX_FILE, DELIVERY_KIND, DELIVERY_VERSION,
		      &rec, error) != 0)
		goto done;
	if (copy_fields(&rec, delivery, error) != 0)
		goto done;
	if (base64_decode(rec.body, rec.body_len, &delivery->payload,
			  &delivery->payload_len) != 0) {
		strbuf_puts(error, "invalid base64 payload");
		goto done;
	}
	if (delivery->payload_len != rec.end_count) {
		strbuf_printf(error, "end record counts %llu payload bytes, "
			      "file has %zu", rec.end_count,
			      delivery->payload_len);
		goto done;
	}
	status = 0;

done:
	qrec_free(&rec);
	if (status != 0)
		delivery_free(delivery);
	return status;
}

void delivery_free(struct delivery *delivery)
{
	free(delivery->report_id);
	free(delivery->report_domain);
	free(delivery->day);
	free(delivery->destination);
	free(delivery->rua);
	free(delivery->submitter);
	free(delivery->filename);
	free(delivery->created);
	free(delivery->last_error);
	free(delivery->payload);
	memset(delivery, 0, sizeof(*delivery));
}
