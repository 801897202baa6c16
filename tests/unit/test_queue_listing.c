/*
 * Unit tests for the de-duplication of "tlsrpt-queue list": a delivery
 * seen in two directories while the mailer moved it is listed once, in
 * the directory where its file is now, else in its later state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "queue_listing.h"

#define ID_A "0123456789ABCDEF01234567"
#define ID_B "0123456789ABCDEF0123456B"

/* The files that exist now, as "state/id"; NULL-terminated. */
static const char *const *existing;

static bool fake_exists(const char *state, const char *id)
{
	size_t i;

	for (i = 0; existing[i] != NULL; i++) {
		size_t len = strlen(state);

		if (strncmp(existing[i], state, len) == 0
		    && existing[i][len] == '/'
		    && strcmp(existing[i] + len + 1, id) == 0)
			return true;
	}
	return false;
}

static void distinct_ids_kept(void **state)
{
	static const char *const now[] = { NULL };
	struct queue_listing_item items[] = {
		{ID_A, "outgoing", false}, {ID_B, "deferred", false},
	};

	(void)state;
	existing = now;
	assert_int_equal(queue_listing_dedupe(items, 2, fake_exists), 0);
	assert_false(items[0].duplicate);
	assert_false(items[1].duplicate);
}

static void moved_file_listed_where_it_is(void **state)
{
	static const char *const now[] = { "deferred/" ID_A, NULL };
	struct queue_listing_item items[] = {
		{ID_A, "outgoing", false}, {ID_B, "outgoing", false},
		{ID_A, "deferred", false},
	};

	(void)state;
	existing = now;
	assert_int_equal(queue_listing_dedupe(items, 3, fake_exists), 1);
	assert_true(items[0].duplicate);
	assert_false(items[1].duplicate);
	assert_false(items[2].duplicate);
}

static void existing_file_wins_over_later_state(void **state)
{
	static const char *const now[] = { "hold/" ID_A, NULL };
	struct queue_listing_item items[] = {
		{ID_A, "hold", false}, {ID_A, "sent", false},
	};

	(void)state;
	existing = now;
	assert_int_equal(queue_listing_dedupe(items, 2, fake_exists), 1);
	assert_false(items[0].duplicate);
	assert_true(items[1].duplicate);
}

static void later_state_wins_when_undecided(void **state)
{
	static const char *const now[] = { NULL };
	struct queue_listing_item items[] = {
		{ID_A, "failed", false}, {ID_A, "outgoing", false},
		{ID_A, "deferred", false},
	};

	(void)state;
	existing = now;
	assert_int_equal(queue_listing_dedupe(items, 3, fake_exists), 2);
	assert_false(items[0].duplicate);
	assert_true(items[1].duplicate);
	assert_true(items[2].duplicate);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(distinct_ids_kept),
		cmocka_unit_test(moved_file_listed_where_it_is),
		cmocka_unit_test(existing_file_wins_over_later_state),
		cmocka_unit_test(later_state_wins_when_undecided),
	};

	return cmocka_run_group_tests_name("queue_listing", tests, NULL,
					   NULL);
}
