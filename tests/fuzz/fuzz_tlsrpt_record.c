/*
 * fuzz_tlsrpt_record: libFuzzer target for the TLSRPT DNS record parser.
 *
 * The record comes from the "pr" member of a datagram, so from DNS by way
 * of the MTA. Besides the sanitizers, the target checks what
 * tlsrpt_record.h promises about the result and aborts when it does not
 * hold: at most TLSRPT_MAX_DESTINATIONS destinations, each starting with
 * "mailto:" or "https:", none with white space or control characters,
 * none twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "strbuf.h"
#include "tlsrpt_record.h"

static _Noreturn void broken(const char *problem, const char *destination)
{
	fprintf(stderr, "fuzz_tlsrpt_record: %s: \"%s\"\n", problem,
		destination);
	abort();
}

static void check_destination(const struct tlsrpt_record *record, size_t index)
{
	const char *destination = record->destinations[index];
	const unsigned char *cursor;
	size_t i;

	if (strncmp(destination, "mailto:", 7) != 0 &&
	    strncmp(destination, "https:", 6) != 0)
		broken("destination without mailto: or https:", destination);
	for (cursor = (const unsigned char *)destination; *cursor != '\0';
	     cursor++)
		if (*cursor <= 0x20 || *cursor == 0x7f)
			broken("white space or control character in a "
			       "destination",
			       destination);
	for (i = 0; i < index; i++)
		if (strcmp(record->destinations[i], destination) == 0)
			broken("duplicate destination", destination);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy_text(data, size);
	struct tlsrpt_record record;
	struct strbuf warnings;
	size_t i;

	strbuf_init(&warnings);
	if (tlsrpt_record_parse(text, &record, &warnings) == 0) {
		if (record.destination_count > TLSRPT_MAX_DESTINATIONS)
			broken("too many destinations", text);
		for (i = 0; i < record.destination_count; i++)
			check_destination(&record, i);
	}
	tlsrpt_record_free(&record);
	strbuf_free(&warnings);
	free(text);
	return 0;
}
