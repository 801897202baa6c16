/*
 * Unit tests for the receiver socket's buffer: the size that
 * receiver_socket_tune() returns is the data size, comparable with the
 * request, and a short buffer gives a warning with the sizes and the fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "receiver_socket.h"
#include "strbuf.h"

static void granted_size_is_data_size(void **state)
{
	struct strbuf warning;
	int fds[2];
	int granted;

	/* 64 KiB is below every kernel's default cap, so the request is
	 * granted in full and reads back as itself. */
	(void)state;
	strbuf_init(&warning);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds), 0);
	granted = receiver_socket_tune(fds[0], 65536);
	assert_int_equal(granted, 65536);
	assert_int_equal(receiver_socket_buffer_check(granted, 65536,
						      &warning), 0);
	assert_int_equal(warning.len, 0);
	close(fds[0]);
	close(fds[1]);
	strbuf_free(&warning);
}

static void short_buffer_warns(void **state)
{
	struct strbuf warning;

	(void)state;
	strbuf_init(&warning);
	assert_int_equal(receiver_socket_buffer_check(4194304, 8388608,
						      &warning), -1);
	assert_non_null(strstr(warning.data, "socket receive buffer is "
			       "4194304 bytes, less than "
			       "receiver_socket_buffer = 8388608"));
	assert_non_null(strstr(warning.data, "sysctl -w "
			       "net.core.rmem_max=8388608"));
	assert_non_null(strstr(warning.data, "SO_RCVBUFFORCE"));
	strbuf_free(&warning);
}

static void unknown_size_is_no_warning(void **state)
{
	struct strbuf warning;

	(void)state;
	strbuf_init(&warning);
	assert_int_equal(receiver_socket_buffer_check(-1, 8388608, &warning),
			 0);
	assert_int_equal(receiver_socket_buffer_check(8388608, 8388608,
						      &warning), 0);
	assert_int_equal(warning.len, 0);
	strbuf_free(&warning);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(granted_size_is_data_size),
		cmocka_unit_test(short_buffer_warns),
		cmocka_unit_test(unknown_size_is_no_warning),
	};

	return cmocka_run_group_tests_name("receiver_socket", tests, NULL,
					   NULL);
}
