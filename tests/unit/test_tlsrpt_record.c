/*
 * Unit tests for TLSRPT record parsing: a table of records, each with the
 * expected result, the destinations in order and a fragment of the
 * expected warnings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strbuf.h"
#include "tlsrpt_record.h"
#include "xalloc.h"

struct record_case {
	const char *record;
	int status;		/* expected return value */
	const char *destinations;	/* space-separated, "" for none */
	const char *warning;	/* a fragment of the warnings, NULL: none */
};

static const struct record_case cases[] = {
	/* Examples from RFC 8460 and real captures. */
	{"v=TLSRPTv1;rua=mailto:reports@example.com", 0,
	 "mailto:reports@example.com", NULL},
	{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", 0,
	 "https://reporting.example.com/v1/tlsrpt", NULL},
	{"v=TLSRPTv1;rua=mailto:a@longrpt.test,https://rpt.longrpt.test/v1 "
	 "; x-ext=1", 0,
	 "mailto:a@longrpt.test https://rpt.longrpt.test/v1", NULL},
	{"v=TLSRPTv1; rua=mailto:tlsrpt@tls-ok.test", 0,
	 "mailto:tlsrpt@tls-ok.test", NULL},

	/* White space around ';' and ','. */
	{"v=TLSRPTv1 ;rua=mailto:a@example.com", 0, "mailto:a@example.com",
	 NULL},
	{"v=TLSRPTv1\t;\trua=mailto:a@example.com\t", 0,
	 "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com , \thttps://r.example.com/x",
	 0, "mailto:a@example.com https://r.example.com/x", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com;", 0, "mailto:a@example.com",
	 NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com ; ", 0,
	 "mailto:a@example.com", NULL},

	/* RFC 8460 section 3: the version comes first, with no space inside
	 * "v=TLSRPTv1" or between "rua" and '='. */
	{"v=TLSRPTv1 rua=mailto:a@example.com", -1, "", "no ';' after"},
	{"v =TLSRPTv1;rua=mailto:a@example.com", -1, "", "not a TLSRPT"},
	{"v=TLSRPTv1;rua =mailto:a@example.com", 0, "", "invalid field"},
	{"v=TLSRPTv1 ; ; rua=mailto:a@example.com ;", 0,
	 "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com\r\n", 0, "",
	 "invalid character 0x0d"},

	/* Several rua fields, extensions, duplicates. */
	{"v=TLSRPTv1;rua=mailto:a@example.com,https://r.example.com/x;"
	 "rua=mailto:b@example.net", 0,
	 "mailto:a@example.com https://r.example.com/x mailto:b@example.net",
	 NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com;rua=https://r.example.com/x;"
	 "rua=mailto:a@example.com", 0,
	 "mailto:a@example.com https://r.example.com/x", NULL},
	{"v=TLSRPTv1;rua=Https://r.example.com/v1,hTtPs://r.example.com/v1",
	 0, "https://r.example.com/v1", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com;x-ext=has=equals;Y_2.z=1", 0,
	 "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com;rua=https://r.example.com/", 0,
	 "mailto:a@example.com https://r.example.com/", NULL},
	{"v=TLSRPTv1;x-ext=1;rua=mailto:a@example.com;ext.two=v", 0,
	 "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com,mailto:a@example.com", 0,
	 "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@Example.COM;rua=MAILTO:a@example.com", 0,
	 "mailto:a@example.com", NULL},

	/* Case-sensitive tags. */
	{"v=TLSRPTv1;RUA=mailto:a@example.com", 0, "",
	 "must be \"rua=\""},
	{"V=TLSRPTv1;rua=mailto:a@example.com", -1, "", "not a TLSRPT"},
	{"v=tlsrptv1;rua=mailto:a@example.com", -1, "", "not a TLSRPT"},
	{" v=TLSRPTv1;rua=mailto:a@example.com", -1, "", "not a TLSRPT"},
	{"v=TLSRPTv10;rua=mailto:a@example.com", -1, "", "no ';' after"},

	/* Schemes. */
	{"v=TLSRPTv1;rua=MAILTO:a@example.com", 0, "mailto:a@example.com",
	 NULL},
	{"v=TLSRPTv1;rua=HTTPS://r.example.com/v1", 0,
	 "https://r.example.com/v1", NULL},
	{"v=TLSRPTv1;rua=http://r.example.com/v1,mailto:a@example.com", 0,
	 "mailto:a@example.com", "unsupported URI scheme \"http\""},
	{"v=TLSRPTv1;rua=a@example.com", 0, "", "no URI scheme"},
	{"v=TLSRPTv1;rua=ftp://r.example.com/", 0, "",
	 "unsupported URI scheme \"ftp\""},
	{"v=TLSRPTv1;rua=https:r.example.com", 0, "", "without a host"},
	{"v=TLSRPTv1;rua=https://", 0, "", "without a host"},
	{"v=TLSRPTv1;rua=data:text/plain,mailto:a@example.com", 0,
	 "mailto:a@example.com", "unsupported URI scheme \"data\""},
	{"v=TLSRPTv1;rua=https://r.example.com/a%2Cb", 0,
	 "https://r.example.com/a%2Cb", NULL},

	/* mailto details from RFC 6068. */
	{"v=TLSRPTv1;rua=mailto:tlsrpt%40example.com", 0,
	 "mailto:tlsrpt@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:tls%2Brpt@example.com", 0,
	 "mailto:tls+rpt@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com%2Cb@example.net", 0,
	 "mailto:a@example.com mailto:b@example.net", NULL},
	{"v=TLSRPTv1;rua=mailto:%22a%2Cb%22@example.com", 0,
	 "mailto:\"a,b\"@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com?subject=hello%0D%0ABcc:x@evil",
	 0, "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:%61@ex%61mple.com", 0,
	 "mailto:a@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:a@example.com?subject=x,https://r.example."
	 "com/", 0, "mailto:a@example.com https://r.example.com/", NULL},
	{"v=TLSRPTv1;rua=mailto:?to=a@example.com", 0, "",
	 "without an address"},
	{"v=TLSRPTv1;rua=mailto:", 0, "", "without an address"},
	{"v=TLSRPTv1;rua=mailto:a@example.com\x01", 0, "",
	 "invalid character 0x01"},
	{"v=TLSRPTv1;rua=mailto:\xc3\xa4@example.com", 0, "",
	 "invalid character 0xc3"},
	{"v=TLSRPTv1;rua=mailto:a%ZZ@example.com", 0, "",
	 "invalid percent-encoding"},
	{"v=TLSRPTv1;rua=mailto:a%00@example.com", 0, "",
	 "invalid percent-encoding"},
	{"v=TLSRPTv1;rua=mailto:a@example.com%0D%0A", 0, "",
	 "invalid domain"},
	{"v=TLSRPTv1;rua=mailto:a..b@example.com", 0, "", "\"..\""},
	{"v=TLSRPTv1;rua=mailto:a@[192.0.2.1]", 0, "", "address literals"},
	{"v=TLSRPTv1;rua=mailto:a b@example.com", 0, "", "invalid character"},
	{"v=TLSRPTv1;rua=mailto:%22a\\%22b%22@example.com", 0,
	 "mailto:\"a\\\"b\"@example.com", NULL},
	{"v=TLSRPTv1;rua=mailto:%22\\%0D%22@example.com", 0, "",
	 "invalid character in the local part"},
	{"v=TLSRPTv1;rua=mailto:%22a\\%20b%22@example.com", 0, "",
	 "invalid character in the local part"},

	/* Not records, or records without destinations. */
	{"", -1, "", "not a TLSRPT record"},
	{"garbage", -1, "", "not a TLSRPT record"},
	{"v=TLSRPTv1", -1, "", "no field"},
	{"v=TLSRPTv1;", -1, "", "no field"},
	{"v=TLSRPTv1; ;", -1, "", "no field"},
	{"v=TLSRPTv1;x=1", 0, "", "no rua field"},
	{"v=TLSRPTv1;rua=", 0, "", "empty URI"},
	{"v=TLSRPTv1;rua=mailto:a@example.com,,https://r.example.com/", 0,
	 "mailto:a@example.com https://r.example.com/", "empty URI"},
	{"v=TLSRPTv1;junk", 0, "", "without '='"},
	{"v=TLSRPTv1;rua=mailto:a@example.com;=x", 0,
	 "mailto:a@example.com", "invalid field"},
	{"v=TLSRPTv1;rua=http://x.example/", 0, "",
	 "no usable destination"},
};

static void record_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct record_case *c = &cases[i];
		struct tlsrpt_record result;
		struct strbuf warnings;
		struct strbuf joined;
		size_t j;
		int status;

		strbuf_init(&warnings);
		strbuf_init(&joined);
		status = tlsrpt_record_parse(c->record, &result, &warnings);
		for (j = 0; j < result.destination_count; j++)
			strbuf_printf(&joined, "%s%s", j ? " " : "",
				      result.destinations[j]);
		if (status != c->status)
			fail_msg("case %zu \"%s\": returned %d, expected %d "
				 "(%s)", i, c->record, status, c->status,
				 warnings.data);
		if (strcmp(joined.data, c->destinations) != 0)
			fail_msg("case %zu \"%s\": destinations \"%s\", "
				 "expected \"%s\" (%s)", i, c->record,
				 joined.data, c->destinations, warnings.data);
		if (c->warning == NULL && warnings.len > 0)
			fail_msg("case %zu \"%s\": unexpected warnings: %s", i,
				 c->record, warnings.data);
		if (c->warning != NULL && strstr(warnings.data, c->warning)
		    == NULL)
			fail_msg("case %zu \"%s\": warnings \"%s\" lack \"%s\"",
				 i, c->record, warnings.data, c->warning);
		tlsrpt_record_free(&result);
		strbuf_free(&joined);
		strbuf_free(&warnings);
	}
}

static void record_null_rejected(void **state)
{
	struct tlsrpt_record result;
	struct strbuf warnings;

	(void)state;
	strbuf_init(&warnings);
	assert_int_equal(tlsrpt_record_parse(NULL, &result, &warnings), -1);
	assert_int_equal(result.destination_count, 0);
	assert_non_null(strstr(warnings.data, "not a TLSRPT record"));
	strbuf_free(&warnings);
}

static void destinations_capped(void **state)
{
	struct tlsrpt_record result;
	struct strbuf record;
	struct strbuf warnings;
	int i;

	(void)state;
	strbuf_init(&record);
	strbuf_init(&warnings);
	strbuf_puts(&record, "v=TLSRPTv1;rua=");
	for (i = 0; i < TLSRPT_MAX_DESTINATIONS + 4; i++)
		strbuf_printf(&record, "%smailto:r%d@example.com", i ? "," : "",
			      i);
	assert_int_equal(tlsrpt_record_parse(record.data, &result, &warnings),
			 0);
	assert_int_equal(result.destination_count, TLSRPT_MAX_DESTINATIONS);
	assert_string_equal(result.destinations[0], "mailto:r0@example.com");
	assert_non_null(strstr(warnings.data, "more than"));
	tlsrpt_record_free(&result);
	strbuf_free(&warnings);
	strbuf_free(&record);
}

/* A record with very many problems gives a bounded warning text that
 * still ends with the outcome. */
static void warnings_capped(void **state)
{
	struct tlsrpt_record result;
	struct strbuf record;
	struct strbuf warnings;
	int i;

	(void)state;
	strbuf_init(&record);
	strbuf_init(&warnings);
	strbuf_puts(&record, "v=TLSRPTv1;rua=");
	for (i = 0; i < 1000; i++)
		strbuf_printf(&record, "%shttp://r%d.example/", i ? "," : "",
			      i);
	assert_int_equal(tlsrpt_record_parse(record.data, &result, &warnings),
			 0);
	assert_int_equal(result.destination_count, 0);
	assert_non_null(strstr(warnings.data, "\"http://r0.example/\""));
	assert_null(strstr(warnings.data, "\"http://r8.example/\""));
	assert_non_null(strstr(warnings.data, "; 992 more problems; no usable "
			       "destination in the record"));
	assert_true(warnings.len < 2000);
	tlsrpt_record_free(&result);
	strbuf_free(&warnings);
	strbuf_free(&record);
}

static void idn_domain_converted(void **state)
{
	struct tlsrpt_record result;
	struct strbuf warnings;

	(void)state;
	strbuf_init(&warnings);
	assert_int_equal(tlsrpt_record_parse("v=TLSRPTv1;rua=mailto:"
					     "r@b%C3%BCcher.example",
					     &result, &warnings), 0);
	assert_int_equal(result.destination_count, 1);
	assert_string_equal(result.destinations[0],
			    "mailto:r@xn--bcher-kva.example");
	tlsrpt_record_free(&result);
	strbuf_free(&warnings);
}

/* Every prefix and single-byte corruption of a valid record parses
 * without crashing (run under ASan/valgrind for full effect). */
static void mutated_records_survive(void **state)
{
	const char *base = "v=TLSRPTv1; rua=mailto:a%40b@example.com?x=y,"
			   "https://r.example.com/v1 ;x-ext=1;";
	static const char replacements[] = { ';', ',', '%', '"', '@', ' ',
					     '\t', '=', '?', '\x01', '\xff' };
	size_t len = strlen(base);
	size_t i;
	size_t r;

	(void)state;
	for (i = 0; i <= len; i++) {
		for (r = 0; r <= sizeof(replacements); r++) {
			struct tlsrpt_record result;
			char *copy = xstrdup(base);

			if (r < sizeof(replacements) && i < len)
				copy[i] = replacements[r];
			else
				copy[i] = '\0';
			tlsrpt_record_parse(copy, &result, NULL);
			assert_true(result.destination_count
				    <= TLSRPT_MAX_DESTINATIONS);
			tlsrpt_record_free(&result);
			free(copy);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(record_table),
		cmocka_unit_test(record_null_rejected),
		cmocka_unit_test(destinations_capped),
		cmocka_unit_test(warnings_capped),
		cmocka_unit_test(idn_domain_converted),
		cmocka_unit_test(mutated_records_survive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
