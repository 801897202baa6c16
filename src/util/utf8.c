/*
 * utf8: strict UTF-8 validation; see utf8.h.
 */
#include "utf8.h"

/* Return the length of the sequence at text, or 0 if it is invalid. */
static size_t sequence_length(const unsigned char *text, size_t left)
{
	unsigned char lead = text[0];
	unsigned char low = 0x80;
	unsigned char high = 0xBF;
	size_t length;
	size_t i;

	if (lead < 0x80)
		return 1;
	if (lead >= 0xC2 && lead <= 0xDF)
		length = 2;
	else if (lead >= 0xE0 && lead <= 0xEF)
		length = 3;
	else if (lead >= 0xF0 && lead <= 0xF4)
		length = 4;
	else
		return 0;
	if (length > left)
		return 0;

	/* The second byte's range rules out overlong forms, surrogates
	 * (U+D800..U+DFFF) and code points above U+10FFFF. */
	if (lead == 0xE0)
		low = 0xA0;
	else if (lead == 0xED)
		high = 0x9F;
	else if (lead == 0xF0)
		low = 0x90;
	else if (lead == 0xF4)
		high = 0x8F;
	if (text[1] < low || text[1] > high)
		return 0;
	for (i = 2; i < length; i++)
		if (text[i] < 0x80 || text[i] > 0xBF)
			return 0;
	return length;
}

bool utf8_valid(const char *text, size_t len)
{
	const unsigned char *cursor = (const unsigned char *)text;

	while (len > 0) {
		size_t step = sequence_length(cursor, len);

		if (step == 0)
			return false;
		cursor += step;
		len -= step;
	}
	return true;
}
