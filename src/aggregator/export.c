/*
 * export: write summary files from the store or from a batch's fold; see
 * export.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export.h"
#include "msg.h"
#include "summary_file.h"
#include "xalloc.h"

struct export_context {
	struct summary_writer writer;
	const char *day;
	struct strbuf *error;
};

static unsigned long long capped(const char *day, unsigned long long count)
{
	static struct msg_rate rate = MSG_RATE_INIT("count capped", 10, 3600);

	if (count <= SUMMARY_MAX_COUNT)
		return count;
	if (msg_rate_allow(&rate))
		msg_warn("day %s: count %llu is larger than %llu, the largest "
			 "count a report carries exactly; writing %llu",
			 day, count, SUMMARY_MAX_COUNT, SUMMARY_MAX_COUNT);
	return SUMMARY_MAX_COUNT;
}

static int write_failed(struct export_context *context)
{
	strbuf_printf(context->error, "cannot write %s: %s",
		      context->writer.file.tmp_path, strerror(errno));
	return -1;
}

static int write_policy(const char *domain, const char *record,
			const char *policy, unsigned long long success,
			unsigned long long failure, void *data)
{
	struct export_context *context = data;

	if (summary_writer_add_policy(&context->writer, domain, record, policy,
				      capped(context->day, success),
				      capped(context->day, failure)) != 0)
		return write_failed(context);
	return 0;
}

static int write_detail(const char *domain, const char *record,
			const char *policy, const char *detail,
			unsigned long long count, void *data)
{
	struct export_context *context = data;

	if (summary_writer_add_detail(&context->writer, domain, record, policy,
				      detail, capped(context->day, count)) != 0)
		return write_failed(context);
	return 0;
}

static bool exists(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	bool found = lstat(path, &st) == 0;

	free(path);
	return found;
}

static int open_writer(struct export_context *context, const char *day,
		       const char *kind, struct strbuf *error)
{
	context->day = day;
	context->error = error;
	if (summary_writer_open(&context->writer, EXPORT_TMP_OWNER, day,
				kind) != 0) {
		strbuf_printf(error, "cannot create a summary file in %s/: %s",
			      QUEUE_TMP, strerror(errno));
		return -1;
	}
	return 0;
}

static int commit_writer(struct export_context *context, const char *dir,
			 const char *name, unsigned long long *lines)
{
	int saved;

	*lines = context->writer.count;
	if (summary_writer_commit(&context->writer, dir, name) == 0)
		return 0;

	/* The summary is written again from its source at the retry, so a
	 * failed commit leaves nothing behind. */
	saved = errno;
	summary_writer_abort(&context->writer);
	if (saved == EEXIST)
		return 1;
	strbuf_printf(context->error, "cannot commit summary %s/%s: %s", dir,
		      name, strerror(saved));
	return -1;
}

int export_store_day(struct store *store, const char *day, const char *kind,
		     const char *dir, const char *name,
		     unsigned long long *lines, struct strbuf *error)
{
	static const struct store_visitor visitor = {write_policy,
						     write_detail};
	struct export_context context;
	int status;

	*lines = 0;
	if (exists(dir, name))
		return 1;
	if (open_writer(&context, day, kind, error) != 0)
		return -1;
	status = store_export(store, day, &visitor, &context, error);
	if (status != 0) {
		summary_writer_abort(&context.writer);
		return -1;
	}
	return commit_writer(&context, dir, name, lines);
}

int export_fold_day(const struct fold *fold, const char *day, const char *dir,
		    const char *name, unsigned long long *lines,
		    struct strbuf *error)
{
	struct export_context context;
	int status = 0;
	size_t i;

	*lines = 0;
	if (exists(dir, name))
		return 1;
	if (open_writer(&context, day, SUMMARY_SUPPLEMENT, error) != 0)
		return -1;
	for (i = 0; status == 0 && i < fold->policy_count; i++) {
		const struct fold_counter *counter = &fold->policies[i];

		if (strcmp(counter->day, day) == 0)
			status = write_policy(counter->domain, counter->record,
					      counter->policy, counter->success,
					      counter->failure, &context);
	}
	for (i = 0; status == 0 && i < fold->detail_count; i++) {
		const struct fold_counter *counter = &fold->details[i];

		if (strcmp(counter->day, day) == 0)
			status = write_detail(counter->domain, counter->record,
					      counter->policy, counter->detail,
					      counter->count, &context);
	}
	if (status != 0) {
		summary_writer_abort(&context.writer);
		return -1;
	}
	return commit_writer(&context, dir, name, lines);
}
