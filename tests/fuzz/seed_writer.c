/*
 * seed_writer: write seed files for the queue file fuzz targets with the
 * suite's own writers, so that the seeds have exactly the shape the
 * daemons produce.
 *
 *	build/fuzz/seed_writer CORPUS_DIR DATAGRAM_FILE...
 *
 * The datagrams are parsed as the receiver parses them. Each one is then
 * written to a batch file as the receiver's line and counted into a
 * summary file (one counter line per policy and per failure-detail, as
 * the aggregator writes them), and the summary is built into reports
 * that go into delivery files. One request file is written as well.
 * The files land in
 * CORPUS_DIR/{batch_file,summary_file,delivery_file,request_file,qrec}/
 * under names that say what they hold, and existing seeds are
 * overwritten.
 * The program works in a temporary queue directory that it removes.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch_file.h"
#include "config.h"
#include "datagram.h"
#include "delivery_file.h"
#include "msg.h"
#include "queue_file.h"
#include "report.h"
#include "request_file.h"
#include "summary_file.h"
#include "utc_time.h"
#include "xalloc.h"

static const char main_cf[] = "myhostname = mx1.example.net\n"
			      "organization_name = Example Seed Org\n"
			      "contact_info = mailto:tlsrpt@example.net\n";

static const struct report_identity identity = {
    .organization_name = "Example Seed Org",
    .contact_info = "mailto:tlsrpt@example.net",
    .submitter = "example.net",
    .max_failure_details = 100,
    .max_size = 5 * 1024 * 1024,
    .success_only_days = true,
};

static char *corpus;

/* Copy the queue file at path to CORPUS/target/name. */
static void keep(const char *path, const char *target, const char *name)
{
	char *data;
	size_t len;
	char *dir = xasprintf("%s/%s", corpus, target);
	char *out = xasprintf("%s/%s", dir, name);
	FILE *fp;

	if (queue_read_file(path, 1 << 24, &data, &len) != 0)
		msg_fatal("cannot read %s: %m", path);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		msg_fatal("cannot create %s: %m", dir);
	fp = fopen(out, "w");
	if (fp == NULL || fwrite(data, 1, len, fp) != len || fclose(fp) != 0)
		msg_fatal("cannot write %s: %m", out);
	free(data);
	free(out);
	free(dir);
}

static int remove_entry(const char *path, const struct stat *info, int flag,
			struct FTW *walk)
{
	(void)info;
	(void)flag;
	(void)walk;
	return remove(path);
}

static void setup_queue(char *queue_dir)
{
	static const char *const subdirs[] = {
	    QUEUE_TMP,	    QUEUE_INCOMING, QUEUE_DAYS,
	    QUEUE_OUTGOING, QUEUE_REQUESTS,
	};
	struct strbuf error;
	FILE *fp;
	size_t i;

	if (mkdtemp(queue_dir) == NULL || chdir(queue_dir) != 0)
		msg_fatal("cannot create %s: %m", queue_dir);
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++)
		if (mkdir(subdirs[i], 0700) != 0)
			msg_fatal("cannot create %s: %m", subdirs[i]);
	fp = fopen("main.cf", "w");
	if (fp == NULL || fputs(main_cf, fp) < 0 || fclose(fp) != 0)
		msg_fatal("cannot write main.cf: %m");
	strbuf_init(&error);
	if (config_load(".", &error) != 0)
		msg_fatal("%s", error.data);
	strbuf_free(&error);
}

/* Parse the datagram in the file at path; return its text, which the
 * caller frees, and its length in *len. */
static char *parse_datagram(const char *path, struct datagram *dg, size_t *len)
{
	struct strbuf reason;
	char *data;

	if (queue_read_file(path, DATAGRAM_MAX_SIZE, &data, len) != 0)
		msg_fatal("cannot read %s: %m", path);
	strbuf_init(&reason);
	if (datagram_parse(data, *len, dg, &reason) != 0)
		msg_fatal("%s: %s", path, reason.data);
	strbuf_free(&reason);
	return data;
}

/* Count one datagram into summary the way the aggregator keys it. */
static void add_counters(struct summary_writer *summary,
			 const struct datagram *dg)
{
	size_t i;
	size_t j;

	for (i = 0; i < dg->policy_count; i++) {
		const struct datagram_policy *policy = &dg->policies[i];
		char *key = datagram_policy_key(dg, i);

		if (summary_writer_add_policy(summary, dg->normalised_domain,
					      dg->record, key, !policy->failed,
					      policy->failed) != 0)
			msg_fatal("cannot write a summary line: %m");
		for (j = 0; j < policy->detail_count; j++) {
			char *detail = datagram_detail_key(&policy->details[j]);

			if (summary_writer_add_detail(
				summary, dg->normalised_domain, dg->record, key,
				detail, 1) != 0)
				msg_fatal("cannot write a summary line: %m");
			free(detail);
		}
		free(key);
	}
}

/* Write the reports of the summary at path as delivery files. */
static void write_deliveries(const char *summary_path)
{
	struct summary summary;
	struct report *reports;
	struct strbuf error;
	size_t count;
	size_t i;

	strbuf_init(&error);
	if (summary_read(summary_path, &summary, &error) != 0 ||
	    report_build_all(&summary, &identity, &reports, &count, &error) !=
		0)
		msg_fatal("%s: %s", summary_path, error.data);
	for (i = 0; i < count && i < 4; i++) {
		struct delivery delivery = {
		    .report_id = reports[i].report_id,
		    .report_domain = reports[i].report_domain,
		    .day = reports[i].day,
		    .destination = "mailto:tlsrpt@example.com",
		    .rua = "mailto:tlsrpt@example.com "
			   "https://report.example.com/v1",
		    .submitter = "example.net",
		    .filename = reports[i].filename,
		    .created = "2026-12-05T00:30:00Z",
		    .last_error = i % 2 ? "421 4.3.0 try again later" : "",
		    .attempts = (unsigned)i,
		    .first_attempt = i % 2 ? 1796430000 : 0,
		    .next_attempt = 1796431951,
		    .payload = reports[i].gzip,
		    .payload_len = reports[i].gzip_len,
		};
		char id[QUEUE_ID_LEN + 1];
		char *path;
		char *name;

		if (delivery_write(&delivery, "seed", QUEUE_OUTGOING, NULL,
				   id) != 0)
			msg_fatal("cannot write a delivery file: %m");
		path = xasprintf("%s/%s", QUEUE_OUTGOING, id);
		name = xasprintf("report-%zu", i + 1);
		keep(path, "delivery_file", name);
		free(name);
		free(path);
	}
	report_free_all(reports, count);
	summary_free(&summary);
	strbuf_free(&error);
}

static void write_request(void)
{
	struct request request = {"2026-12-04", REQUEST_TARGET_EXPORT};
	char id[QUEUE_ID_LEN + 1];
	char *path;

	if (request_write(&request, "seed", id) != 0)
		msg_fatal("cannot write a request file: %m");
	path = xasprintf("%s/%s", QUEUE_REQUESTS, id);
	keep(path, "request_file", "export");
	free(path);
}

int main(int argc, char **argv)
{
	char queue_dir[] = "/tmp/tlsrptd-seeds-XXXXXX";
	struct batch_writer batch;
	struct summary_writer summary;
	char start[4096];
	char *path;
	int i;

	msg_open("tlsrptd", "seed_writer");
	if (argc < 3)
		msg_fatal("usage: %s CORPUS_DIR DATAGRAM_FILE...", argv[0]);
	if (getcwd(start, sizeof(start)) == NULL)
		msg_fatal("cannot find the current directory: %m");
	corpus = argv[1][0] == '/' ? xstrdup(argv[1])
				   : xasprintf("%s/%s", start, argv[1]);
	setup_queue(queue_dir);

	if (batch_writer_open(&batch, "seed") != 0 ||
	    summary_writer_open(&summary, "seed", "2026-12-04",
				SUMMARY_FINAL) != 0)
		msg_fatal("cannot create a queue file: %m");
	for (i = 2; i < argc; i++) {
		char *file = argv[i][0] == '/'
				 ? xstrdup(argv[i])
				 : xasprintf("%s/%s", start, argv[i]);
		struct datagram dg;
		size_t len;
		char *data = parse_datagram(file, &dg, &len);
		char *spare = xmalloc(len);

		/* The line the receiver writes for this datagram. */
		if (batch_writer_append(&batch, 1796374383 + i,
					datagram_line(data, len, spare),
					len) != 0)
			msg_fatal("cannot append to the batch: %m");
		add_counters(&summary, &dg);
		datagram_free(&dg);
		free(spare);
		free(data);
		free(file);
	}

	/* An unfinished batch as the receiver leaves it under tmp/ when it
	 * is killed: no end record. */
	if (batch_writer_flush(&batch) != 0)
		msg_fatal("cannot flush the batch: %m");
	keep(batch.file.tmp_path, "batch_file", "unfinished");
	if (batch_writer_commit(&batch) != 0 ||
	    summary_writer_commit(&summary, QUEUE_DAYS, "2026-12-04") != 0)
		msg_fatal("cannot commit a queue file: %m");
	path = xasprintf("%s/%s", QUEUE_INCOMING, batch.file.id);
	keep(path, "batch_file", "samples");
	keep(path, "qrec", "batch-samples");
	free(path);
	keep(QUEUE_DAYS "/2026-12-04", "summary_file", "samples");
	write_deliveries(QUEUE_DAYS "/2026-12-04");
	write_request();

	config_free();
	if (chdir(start) != 0)
		msg_fatal("cannot return to %s: %m", start);
	if (nftw(queue_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		msg_warn("cannot remove %s: %m", queue_dir);
	free(corpus);
	return 0;
}
