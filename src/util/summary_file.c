/*
 * summary_file: write and read day summary files; see summary_file.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "datagram.h"
#include "msg.h"
#include "qrec.h"
#include "summary_file.h"
#include "utc_time.h"
#include "xalloc.h"

int summary_writer_open(struct summary_writer *summary, const char *owner,
			const char *day, const char *kind)
{
	char now[UTC_TIME_LEN + 1];

	memset(summary, 0, sizeof(*summary));
	if (queue_file_create(&summary->file, owner) != 0)
		return -1;
	utc_time_format(utc_now(), now);
	qrec_write_version(summary->file.fp, SUMMARY_KIND, SUMMARY_VERSION);
	qrec_write_field(summary->file.fp, "day", day);
	qrec_write_field(summary->file.fp, "kind", kind);
	qrec_write_field(summary->file.fp, "created", now);
	qrec_write_field(summary->file.fp, "host", config_str("myhostname"));
	qrec_write_body_start(summary->file.fp);
	return 0;
}

/* Build the common part of a counter line; policy_json is our own text. */
static cJSON *counter_object(const char *domain, const char *record,
			     const char *policy_json)
{
	cJSON *line = cJSON_CreateObject();
	cJSON *policy = cJSON_Parse(policy_json);

	if (line == NULL || policy == NULL)
		msg_panic("summary: cannot build a counter line from policy "
			  "\"%.200s\"", policy_json);
	cJSON_AddStringToObject(line, "domain", domain);
	cJSON_AddStringToObject(line, "record", record);
	cJSON_AddItemToObject(line, "policy", policy);
	return line;
}

static int write_line(struct summary_writer *summary, const char *type,
		      cJSON *line)
{
	char *text = cJSON_PrintUnformatted(line);

	cJSON_Delete(line);
	if (text == NULL)
		msg_fatal("out of memory printing a summary line");
	fprintf(summary->file.fp, "%s %s\n", type, text);
	cJSON_free(text);
	summary->count++;
	return ferror(summary->file.fp) ? -1 : 0;
}

int summary_writer_add_policy(struct summary_writer *summary,
			      const char *domain, const char *record,
			      const char *policy_json,
			      unsigned long long success,
			      unsigned long long failure)
{
	cJSON *line = counter_object(domain, record, policy_json);

	cJSON_AddNumberToObject(line, "success", (double)success);
	cJSON_AddNumberToObject(line, "failure", (double)failure);
	return write_line(summary, "policy", line);
}

int summary_writer_add_detail(struct summary_writer *summary,
			      const char *domain, const char *record,
			      const char *policy_json, const char *detail_json,
			      unsigned long long count)
{
	cJSON *line = counter_object(domain, record, policy_json);
	cJSON *detail = cJSON_Parse(detail_json);

	if (detail == NULL)
		msg_panic("summary: invalid detail \"%.200s\"", detail_json);
	cJSON_AddItemToObject(line, "detail", detail);
	cJSON_AddNumberToObject(line, "count", (double)count);
	return write_line(summary, "detail", line);
}

int summary_writer_commit(struct summary_writer *summary, const char *dir,
			  const char *name)
{
	qrec_write_end(summary->file.fp, summary->count);
	return queue_file_commit(&summary->file, dir, name);
}

void summary_writer_abort(struct summary_writer *summary)
{
	queue_file_abort(&summary->file);
}

static const char *get_text(const cJSON *object, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int get_count(const cJSON *object, const char *name,
		     unsigned long long *count)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
	double value;

	if (!cJSON_IsNumber(item))
		return -1;
	value = item->valuedouble;
	if (!isfinite(value) || floor(value) != value || value < 0
	    || value > (double)SUMMARY_MAX_COUNT)
		return -1;
	*count = (unsigned long long)value;
	return 0;
}

static bool is_string_array(const cJSON *item)
{
	const cJSON *entry;

	if (!cJSON_IsArray(item))
		return false;
	cJSON_ArrayForEach(entry, item)
		if (!cJSON_IsString(entry))
			return false;
	return true;
}

/* Check the report-shaped policy object that the reporter will copy. */
static const char *check_policy(const cJSON *policy)
{
	const char *type = get_text(policy, "policy-type");

	if (!cJSON_IsObject(policy))
		return "policy is not an object";
	if (type == NULL || (strcmp(type, "tlsa") != 0
			     && strcmp(type, "sts") != 0
			     && strcmp(type, "no-policy-found") != 0))
		return "invalid policy-type";
	if (get_text(policy, "policy-domain") == NULL)
		return "missing policy-domain";
	if (!is_string_array(cJSON_GetObjectItemCaseSensitive(policy,
							      "policy-string")))
		return "policy-string is not an array of strings";
	if (!is_string_array(cJSON_GetObjectItemCaseSensitive(policy,
							      "mx-host")))
		return "mx-host is not an array of strings";
	return NULL;
}

static const char *check_detail(const cJSON *detail)
{
	const cJSON *item;

	if (!cJSON_IsObject(detail))
		return "detail is not an object";
	if (get_text(detail, "result-type") == NULL)
		return "missing result-type";
	cJSON_ArrayForEach(item, detail)
		if (!cJSON_IsString(item))
			return "detail member is not a string";
	return NULL;
}

static const char *parse_counter(char *line, size_t len,
				 struct summary_counter *counter)
{
	char *json;

	if (len > 7 && strncmp(line, "policy ", 7) == 0) {
		json = line + 7;
	} else if (len > 7 && strncmp(line, "detail ", 7) == 0) {
		json = line + 7;
		counter->is_detail = true;
	} else {
		return "line is neither \"policy\" nor \"detail\"";
	}
	line[len] = '\0';
	counter->tree = cJSON_Parse(json);
	if (!cJSON_IsObject(counter->tree))
		return "invalid JSON";
	counter->domain = get_text(counter->tree, "domain");
	counter->record = get_text(counter->tree, "record");
	counter->policy = cJSON_GetObjectItemCaseSensitive(counter->tree,
							   "policy");
	if (counter->domain == NULL || counter->record == NULL)
		return "missing domain or record";
	if (check_policy(counter->policy) != NULL)
		return check_policy(counter->policy);
	if (!counter->is_detail) {
		if (get_count(counter->tree, "success", &counter->success) != 0
		    || get_count(counter->tree, "failure",
				 &counter->failure) != 0)
			return "invalid success or failure count";
		return NULL;
	}
	counter->detail = cJSON_GetObjectItemCaseSensitive(counter->tree,
							   "detail");
	if (check_detail(counter->detail) != NULL)
		return check_detail(counter->detail);
	if (get_count(counter->tree, "count", &counter->count) != 0)
		return "invalid count";
	return NULL;
}

static int copy_header(struct qrec *rec, struct summary *summary,
		       struct strbuf *error)
{
	const char *day = qrec_get(rec, "day");
	const char *kind = qrec_get(rec, "kind");
	time_t start;

	if (day == NULL || utc_day_parse(day, &start) != 0) {
		strbuf_puts(error, "missing or invalid day header");
		return -1;
	}
	if (kind == NULL || (strcmp(kind, SUMMARY_FINAL) != 0
			     && strcmp(kind, SUMMARY_PREVIEW) != 0
			     && strcmp(kind, SUMMARY_SUPPLEMENT) != 0)) {
		strbuf_puts(error, "missing or invalid kind header");
		return -1;
	}
	summary->day = xstrdup(day);
	summary->kind = xstrdup(kind);
	summary->created = xstrdup(qrec_get(rec, "created") ?
				   qrec_get(rec, "created") : "");
	summary->host = xstrdup(qrec_get(rec, "host") ?
				qrec_get(rec, "host") : "");
	return 0;
}

int summary_read(const char *path, struct summary *summary,
		 struct strbuf *error)
{
	struct qrec rec;
	size_t offset = 0;
	size_t len;
	char *line;
	int status = 0;

	memset(summary, 0, sizeof(*summary));
	if (qrec_read(path, SUMMARY_MAX_FILE, SUMMARY_KIND, SUMMARY_VERSION,
		      &rec, error) != 0
	    || copy_header(&rec, summary, error) != 0) {
		qrec_free(&rec);
		return -1;
	}
	while (status == 0 && qrec_next_line(&rec, &offset, &line, &len)) {
		struct summary_counter *counter;
		const char *problem;

		summary->counters = xreallocarray(summary->counters,
						  summary->counter_count + 1,
						  sizeof(*summary->counters));
		counter = &summary->counters[summary->counter_count++];
		memset(counter, 0, sizeof(*counter));
		problem = parse_counter(line, len, counter);
		if (problem != NULL) {
			strbuf_printf(error, "line %zu: %s",
				      summary->counter_count, problem);
			status = -1;
		}
	}
	if (status == 0 && summary->counter_count != rec.end_count) {
		strbuf_printf(error, "end record counts %llu lines, file has "
			      "%zu", rec.end_count, summary->counter_count);
		status = -1;
	}
	qrec_free(&rec);
	if (status != 0)
		summary_free(summary);
	return status;
}

void summary_free(struct summary *summary)
{
	size_t i;

	for (i = 0; i < summary->counter_count; i++)
		cJSON_Delete(summary->counters[i].tree);
	free(summary->counters);
	free(summary->day);
	free(summary->kind);
	free(summary->created);
	free(summary->host);
	memset(summary, 0, sizeof(*summary));
}
