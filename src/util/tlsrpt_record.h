/*
 * tlsrpt_record: parse a TLSRPT DNS record (RFC 8460 section 3) into its
 * report destinations.
 *
 *	record = "v=TLSRPTv1" 1*( *WSP ";" *WSP field ) [ *WSP ";" *WSP ]
 *	field  = "rua=" uri *( *WSP "," *WSP uri ) / ext-name "=" ext-value
 *
 * "v=TLSRPTv1" and "rua=" are case-sensitive; several rua fields are
 * allowed and all their URIs are collected; unknown fields are ignored.
 * Only mailto: and https: URIs are usable (schemes compared without
 * regard to case); others are skipped with a warning while the remaining
 * destinations are kept. Duplicates are removed.
 *
 * Destinations come out canonical: "mailto:" followed by the decoded
 * addr-spec with its domain normalised (lower case, A-labels) and any
 * "?hfields" dropped (never copied into headers), or "https://..." exactly
 * as published. A record must write a comma inside a mailto URI as "%2C",
 * so a decoded comma outside quotes separates several addresses, as in
 * RFC 6068. A destination never contains white space or control
 * characters. A record with no usable destination gives zero destinations
 * and a warning. It is never fatal.
 */
#ifndef TLSRPTD_TLSRPT_RECORD_H
#define TLSRPTD_TLSRPT_RECORD_H

#include <stddef.h>

#include "strbuf.h"

#define TLSRPT_MAX_DESTINATIONS	16
#define TLSRPT_MAX_WARNINGS	8	/* then only their number is kept */

struct tlsrpt_record {
	char **destinations;	/* canonical URIs, owned */
	size_t destination_count;
};

/*
 * Parse record into result, which the caller releases with
 * tlsrpt_record_free() whatever the return value. Returns 0 when the
 * record is a TLSRPT record, even one without usable destinations. It
 * returns -1 when the text does not start with "v=TLSRPTv1" followed by
 * white space, ';' or its end, or has no field after the version. In
 * both cases warnings (may be NULL) collects one text per skipped URI or
 * problem, separated by "; ": the first TLSRPT_MAX_WARNINGS, then how many
 * more there were, then "no rua field" or "no usable destination" when
 * the record has no destination.
 */
int tlsrpt_record_parse(const char *record, struct tlsrpt_record *result,
			struct strbuf *warnings);
void tlsrpt_record_free(struct tlsrpt_record *result);

#endif
