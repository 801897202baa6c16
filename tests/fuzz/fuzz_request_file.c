/*
 * fuzz_request_file: libFuzzer target for aggregator request files
 * (requests/), which tlsrptd commands write and the aggregator reads.
 *
 * An accepted request must carry a valid day and one of the two targets;
 * the target aborts when request_read() lets anything else through.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "request_file.h"
#include "strbuf.h"
#include "utc_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_write_file("request", data, size);
	struct request request;
	struct strbuf error;
	time_t start;

	strbuf_init(&error);
	if (request_read(path, &request, &error) == 0) {
		if (utc_day_parse(request.day, &start) != 0 ||
		    (strcmp(request.target, REQUEST_TARGET_DAYS) != 0 &&
		     strcmp(request.target, REQUEST_TARGET_EXPORT) != 0)) {
			fprintf(stderr,
				"fuzz_request_file: accepted day "
				"\"%s\", target \"%s\"\n",
				request.day, request.target);
			abort();
		}
	} else if (error.len == 0) {
		abort(); /* every rejection must say why */
	}
	strbuf_free(&error);
	free(path);
	return 0;
}
