/*
 * requests: write the summaries that requests ask for; see requests.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "msg.h"
#include "queue_file.h"
#include "request_file.h"
#include "requests.h"
#include "summary_file.h"
#include "xalloc.h"

static void remove_request(const char *name)
{
	char *path = xasprintf("%s/%s", QUEUE_REQUESTS, name);

	if (unlink(path) != 0 && errno != ENOENT)
		msg_warn("%s: cannot remove %s: %s", name, path,
			 strerror(errno));
	free(path);
}

/* Answer one well-formed request; return -1 to keep it for a retry. */
static int answer(struct aggregator *agg, const char *id,
		  const struct request *request)
{
	struct store_day day;
	struct strbuf error;
	const char *kind;
	unsigned long long lines;
	int written;

	strbuf_init(&error);
	if (store_day_get(agg->store, request->day, &day, &error) != 0) {
		msg_warn("%s: cannot read the state of day %s: %s; will retry",
			 id, request->day, error.data);
		aggregator_check_store(agg);
		strbuf_free(&error);
		return -1;
	}
	kind = day.state == STORE_DAY_CLOSED || day.state == STORE_DAY_CLOSING
		   ? SUMMARY_FINAL
		   : SUMMARY_PREVIEW;
	/* request_read() accepts only the targets "days" and "export",
	 * which are the names of the queue directories. */
	written = export_store_day(agg->store, request->day, kind,
				   request->target, id, &lines, &error);
	if (written < 0) {
		msg_warn("%s: cannot write the summary of day %s: %s; will "
			 "retry",
			 id, request->day, error.data);
		aggregator_check_store(agg);
		agg->retry_soon = true;
		strbuf_free(&error);
		return -1;
	}
	if (written == 0)
		msg_info("%s: wrote %s summary of day %s to %s/%s (%llu "
			 "counters)",
			 id, kind, request->day, request->target, id, lines);
	else
		msg_info("%s: summary %s/%s was written before a restart", id,
			 request->target, id);
	if (strcmp(request->target, REQUEST_TARGET_DAYS) == 0)
		agg->wake_reporter = true;
	agg->requests++;
	strbuf_free(&error);
	return 0;
}

static void process_one(struct aggregator *agg, const char *name)
{
	char *path = xasprintf("%s/%s", QUEUE_REQUESTS, name);
	struct request request;
	struct strbuf error;

	strbuf_init(&error);
	if (!queue_id_valid(name)) {
		msg_warn("%s: file name in %s/ is not a queue ID; request "
			 "removed",
			 name, QUEUE_REQUESTS);
		remove_request(name);
		goto done;
	}
	errno = 0;
	if (request_read(path, &request, &error) != 0) {
		if (errno != ENOENT) {
			msg_warn("%s: invalid request (%s); request removed",
				 name, error.data);
			remove_request(name);
		}
		goto done;
	}
	if (answer(agg, name, &request) == 0)
		remove_request(name);

done:
	strbuf_free(&error);
	free(path);
}

void requests_process(struct aggregator *agg)
{
	char **names;
	size_t count;
	size_t i;

	if (queue_list(QUEUE_REQUESTS, &names, &count) != 0) {
		msg_warn("cannot list %s/: %s", QUEUE_REQUESTS,
			 strerror(errno));
		return;
	}
	for (i = 0; i < count && !worker_stop; i++)
		process_one(agg, names[i]);
	queue_list_free(names, count);
}
