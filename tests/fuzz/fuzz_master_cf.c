/*
 * fuzz_master_cf: libFuzzer target for the master.cf parser.
 *
 * The input is the text of master.cf, parsed with master_cf_parse(), the
 * function master_cf_read() calls after reading the file. A table that
 * is accepted is checked against what master_cf.h promises, and a
 * violation aborts: at least one service, at most one dgram service, no
 * service twice, maxproc 1, every argv NULL-terminated after argc
 * entries. Each entry is also copied, compared with its copy and freed,
 * and its "-o" options are looked up, as the master does when it reloads
 * the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "master_cf.h"
#include "strbuf.h"

static _Noreturn void broken(const char *problem, const char *service)
{
	fprintf(stderr, "fuzz_master_cf: %s: service \"%s\"\n", problem,
		service);
	abort();
}

static void check_entry(const struct master_cf *table, size_t index,
			size_t *dgram_count)
{
	const struct master_cf_entry *entry = &table->entries[index];
	struct master_cf_entry copy;
	size_t i;

	if (entry->argc == 0 || entry->argv[entry->argc] != NULL)
		broken("argv is not NULL-terminated after argc entries",
		       entry->service);
	if (entry->maxproc != 1 || entry->wakeup > MASTER_CF_MAX_WAKEUP)
		broken("maxproc or wakeup out of range", entry->service);
	if (strlen(entry->service) > MASTER_CF_MAX_SERVICE)
		broken("service name too long", entry->service);
	if (entry->type == MASTER_CF_DGRAM)
		(*dgram_count)++;
	for (i = 0; i < index; i++)
		if (strcmp(table->entries[i].service, entry->service) == 0)
			broken("service defined twice", entry->service);
	if (master_cf_find(table, entry->service) == NULL)
		broken("master_cf_find() misses the service", entry->service);
	(void)master_cf_entry_option(entry, "mail_owner");
	master_cf_entry_copy(&copy, entry);
	if (!master_cf_entry_equal(&copy, entry))
		broken("a copy differs from its entry", entry->service);
	master_cf_entry_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct master_cf table;
	struct strbuf error;
	size_t dgram_count = 0;
	size_t i;

	strbuf_init(&error);
	if (master_cf_parse("master.cf", (const char *)data, size, &table,
			    &error) == 0) {
		if (table.count == 0)
			broken("table accepted without services", "");
		for (i = 0; i < table.count; i++)
			check_entry(&table, i, &dgram_count);
		if (dgram_count > 1)
			broken("more than one dgram service", "");
	} else if (error.len == 0) {
		abort(); /* every rejection must say why */
	}
	master_cf_free(&table);
	strbuf_free(&error);
	return 0;
}
