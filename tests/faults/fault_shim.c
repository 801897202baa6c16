/*
 * fault_shim: an LD_PRELOAD library that makes file system calls fail
 * with ENOSPC or EIO, for tests of full disks and failing disks.
 *
 * Environment:
 *	TLSRPTD_FAULT_CONTROL	the control file (required)
 *	TLSRPTD_FAULT_ROOT	only paths under this directory fail
 *				(required; the queue directory)
 *
 * The control file contains one line, read again whenever the file changes
 * (inode, size or modification time), so a test turns faults on and off
 * while the daemons run:
 *
 *	off
 *	enospc|eio [ops=OP,...] [dirs=DIR,...] [after=N] [trace]
 *
 * OP is one of these classes (default: every class):
 *	write	write(), pwrite(), writev(), pwritev(), and the stdio output
 *		functions the suite uses (fwrite, fputs, fputc, putc,
 *		fprintf, vfprintf, and fflush and fclose while output is
 *		pending)
 *	sync	fsync(), fdatasync(), syncfs()
 *	link	link(), linkat()
 *	rename	rename(), renameat(), renameat2()
 *	create	open() and openat() with O_CREAT of a file that does not
 *		exist, creat(), mkstemp(), mkostemp(), mkfifo(), mkfifoat()
 * DIR names the first path component below the root (tmp, incoming,
 * db, ...); the default is every path under the root. after=N lets the
 * first N matching calls of this process succeed, counted from the
 * moment the line was read. trace writes one line to standard error for
 * every call made to fail.
 *
 * A descriptor matches when it refers to a regular file (or, for sync, a
 * directory) whose /proc/self/fd link is under the root. A path matches
 * after a relative path is joined to the working directory or to the
 * directory descriptor. For link and rename the new name decides.
 *
 * A failing stdio call discards the stream's buffered output and sets
 * its error indicator, as glibc does when write() fails under it. Output
 * that glibc writes on its own when a buffer fills goes through its
 * internal write(), which no preload can intercept; those writes succeed.
 *
 * The state is published through an atomic pointer, so the receiver's
 * two threads and signal handlers never wait for a lock here. Replaced
 * states are not freed, because another thread may still read one;
 * they stay linked from the current one, so that a leak checker finds
 * them reachable. There is one per change of the control file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum fault_op {
	OP_WRITE = 1 << 0,
	OP_SYNC = 1 << 1,
	OP_LINK = 1 << 2,
	OP_RENAME = 1 << 3,
	OP_CREATE = 1 << 4,
};

#define OP_ALL (OP_WRITE | OP_SYNC | OP_LINK | OP_RENAME | OP_CREATE)
#define MAX_DIRS 16
#define MAX_LINE 512

/* One parsed control line. */
struct fault_state {
	dev_t dev;		/* identity of the control file it came from */
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int error;		/* 0: off */
	unsigned ops;
	size_t dir_count;	/* 0: every directory */
	char dirs[MAX_DIRS][NAME_MAX + 1];
	long long after;
	atomic_llong matched;
	bool trace;
	struct fault_state *previous;	/* kept reachable, never freed */
};

static _Atomic(struct fault_state *) current;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static char root[PATH_MAX];
static atomic_int root_state;	/* 0 unknown, 1 set, -1 no root */

/* Look up the next definition of a symbol, once. */
#define REAL(name)							\
	static __typeof__(name) *real_##name;				\
	if (real_##name == NULL)					\
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static int open_control(const char *path)
{
	static int (*real_open)(const char *, int, ...);

	if (real_open == NULL)
		real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT,
								    "open");
	return real_open(path, O_RDONLY | O_CLOEXEC);
}

static const char *root_dir(void)
{
	int state = atomic_load(&root_state);

	if (state == 0) {
		const char *value = getenv("TLSRPTD_FAULT_ROOT");

		state = value != NULL && realpath(value, root) != NULL ? 1
									: -1;
		atomic_store(&root_state, state);
	}
	return state == 1 ? root : NULL;
}

static void parse_dirs(struct fault_state *state, char *list)
{
	char *save = NULL;
	char *name;

	for (name = strtok_r(list, ",", &save); name != NULL;
	     name = strtok_r(NULL, ",", &save)) {
		if (state->dir_count == MAX_DIRS || strlen(name) > NAME_MAX)
			continue;
		strcpy(state->dirs[state->dir_count++], name);
	}
}

static unsigned parse_ops(char *list)
{
	static const struct {
		const char *name;
		unsigned op;
	} names[] = {
		{"write", OP_WRITE}, {"sync", OP_SYNC}, {"link", OP_LINK},
		{"rename", OP_RENAME}, {"create", OP_CREATE},
	};
	unsigned ops = 0;
	char *save = NULL;
	char *name;
	size_t i;

	for (name = strtok_r(list, ",", &save); name != NULL;
	     name = strtok_r(NULL, ",", &save))
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(name, names[i].name) == 0)
				ops |= names[i].op;
	return ops;
}

/* Parse "MODE [key=value ...]"; an unknown mode means off. */
static void parse_line(struct fault_state *state, char *line)
{
	char *save = NULL;
	char *word = strtok_r(line, " \t\r\n", &save);

	state->ops = OP_ALL;
	if (word == NULL)
		return;
	if (strcmp(word, "enospc") == 0)
		state->error = ENOSPC;
	else if (strcmp(word, "eio") == 0)
		state->error = EIO;
	while ((word = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
		if (strncmp(word, "ops=", 4) == 0)
			state->ops = parse_ops(word + 4);
		else if (strncmp(word, "dirs=", 5) == 0)
			parse_dirs(state, word + 5);
		else if (strncmp(word, "after=", 6) == 0)
			state->after = atoll(word + 6);
		else if (strcmp(word, "trace") == 0)
			state->trace = true;
	}
}

static struct fault_state *read_state(const char *path, const struct stat *st)
{
	struct fault_state *state = calloc(1, sizeof(*state));
	char line[MAX_LINE];
	ssize_t got = -1;
	int fd;

	if (state == NULL)
		return NULL;
	state->dev = st->st_dev;
	state->ino = st->st_ino;
	state->size = st->st_size;
	state->mtime = st->st_mtim;
	fd = open_control(path);
	if (fd >= 0) {
		got = read(fd, line, sizeof(line) - 1);
		close(fd);
	}
	line[got > 0 ? got : 0] = '\0';
	parse_line(state, line);
	return state;
}

static bool same_file(const struct fault_state *state, const struct stat *st)
{
	return state->dev == st->st_dev && state->ino == st->st_ino &&
	       state->size == st->st_size &&
	       state->mtime.tv_sec == st->st_mtim.tv_sec &&
	       state->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Return the state for this call, or NULL when faults are off. */
static struct fault_state *fault_state(unsigned op)
{
	const char *path = getenv("TLSRPTD_FAULT_CONTROL");
	struct fault_state *state = atomic_load(&current);
	struct stat st;

	if (path == NULL || root_dir() == NULL || stat(path, &st) != 0)
		return NULL;
	if ((state == NULL || !same_file(state, &st)) &&
	    pthread_mutex_trylock(&reload_lock) == 0) {
		struct fault_state *fresh = read_state(path, &st);

		if (fresh != NULL) {
			fresh->previous = atomic_load(&current);
			atomic_store(&current, fresh);
			state = fresh;
		}
		pthread_mutex_unlock(&reload_lock);
	}
	if (state == NULL || state->error == 0 || (state->ops & op) == 0)
		return NULL;
	return state;
}

/* Tell whether an absolute path lies under the root, in a listed
 * directory when the state lists any. */
static bool path_matches(const struct fault_state *state, const char *path)
{
	size_t len = strlen(root);
	const char *rest;
	size_t i;

	if (strncmp(path, root, len) != 0 || path[len] != '/')
		return false;
	rest = path + len + 1;
	if (state->dir_count == 0)
		return true;
	for (i = 0; i < state->dir_count; i++) {
		size_t dir_len = strlen(state->dirs[i]);

		if (strncmp(rest, state->dirs[i], dir_len) == 0 &&
		    (rest[dir_len] == '/' || rest[dir_len] == '\0'))
			return true;
	}
	return false;
}

static bool fd_path(int fd, char *out, size_t size)
{
	char link[64];
	ssize_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, out, size - 1);
	if (len <= 0)
		return false;
	out[len] = '\0';
	return true;
}

/* Join a path named relative to dirfd into an absolute one. */
static bool absolute_path(int dirfd, const char *path, char *out, size_t size)
{
	char base[PATH_MAX];

	int len;

	if (path[0] == '/') {
		len = snprintf(out, size, "%s", path);
		return len >= 0 && (size_t)len < size;
	}
	if (dirfd == AT_FDCWD ? getcwd(base, sizeof(base)) == NULL
			      : !fd_path(dirfd, base, sizeof(base)))
		return false;
	len = snprintf(out, size, "%s/%s", base, path);
	return len >= 0 && (size_t)len < size;
}

/* Decide whether this call fails; returns the errno to fail with, or 0.
 * errno is left as the caller had it. */
static int decide(struct fault_state *state, const char *what,
		  const char *path)
{
	if (state->after > 0 && atomic_fetch_add(&state->matched, 1) <
				    state->after)
		return 0;
	if (state->trace) {
		static ssize_t (*real_write)(int, const void *, size_t);
		char line[PATH_MAX + 128];
		int len;

		if (real_write == NULL)
			real_write = (ssize_t(*)(int, const void *, size_t))
			    dlsym(RTLD_NEXT, "write");
		len = snprintf(line, sizeof(line),
			       "fault_shim[%d]: %s %s: %s\n", (int)getpid(),
			       what, path, strerror(state->error));
		if (len > 0 && real_write != NULL)
			real_write(2, line, (size_t)len < sizeof(line)
						? (size_t)len
						: sizeof(line) - 1);
	}
	return state->error;
}

static int fd_fault(int fd, unsigned op, const char *what)
{
	int saved = errno;
	struct fault_state *state;
	char path[PATH_MAX];
	struct stat st;
	int error = 0;

	/* Pipes, sockets and FIFOs pass before any other step, so that a
	 * signal handler's write() to a pipe never reaches the reload. */
	if (getenv("TLSRPTD_FAULT_CONTROL") == NULL || fstat(fd, &st) != 0 ||
	    !(S_ISREG(st.st_mode) || (op == OP_SYNC && S_ISDIR(st.st_mode))))
		goto done;
	state = fault_state(op);
	if (state != NULL && fd_path(fd, path, sizeof(path)) &&
	    path_matches(state, path))
		error = decide(state, what, path);

done:
	errno = saved;
	return error;
}

/* exists_ok: a path that exists already passes (O_CREAT of an existing
 * file allocates nothing). */
static int path_fault(int dirfd, const char *name, unsigned op,
		      const char *what, bool exists_ok)
{
	int saved = errno;
	struct fault_state *state = fault_state(op);
	char path[PATH_MAX];
	struct stat st;
	int error = 0;

	if (state != NULL && name != NULL &&
	    absolute_path(dirfd, name, path, sizeof(path)) &&
	    path_matches(state, path) &&
	    !(exists_ok && lstat(path, &st) == 0))
		error = decide(state, what, path);
	errno = saved;
	return error;
}

static int create_fault(int dirfd, const char *name, int flags)
{
	if ((flags & O_CREAT) == 0)
		return 0;
	return path_fault(dirfd, name, OP_CREATE, "create", true);
}

static int stream_fault(FILE *fp, const char *what)
{
	int fd = fp != NULL ? fileno(fp) : -1;

	return fd >= 0 ? fd_fault(fd, OP_WRITE, what) : 0;
}

/* Fail a stdio output call the way glibc fails one under a failed
 * write(): the buffer is gone and the error indicator set. */
static void fail_stream(FILE *fp, int error)
{
	__fpurge(fp);
	fp->_flags |= _IO_ERR_SEEN;
	errno = error;
}

/* Raw calls. */

ssize_t write(int fd, const void *data, size_t len)
{
	int error = fd_fault(fd, OP_WRITE, "write");
	REAL(write);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_write(fd, data, len);
}

ssize_t pwrite(int fd, const void *data, size_t len, off_t offset)
{
	int error = fd_fault(fd, OP_WRITE, "pwrite");
	REAL(pwrite);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_pwrite(fd, data, len, offset);
}

ssize_t pwrite64(int fd, const void *data, size_t len, off64_t offset)
{
	int error = fd_fault(fd, OP_WRITE, "pwrite64");
	REAL(pwrite64);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_pwrite64(fd, data, len, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
	int error = fd_fault(fd, OP_WRITE, "writev");
	REAL(writev);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t offset)
{
	int error = fd_fault(fd, OP_WRITE, "pwritev");
	REAL(pwritev);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_pwritev(fd, iov, count, offset);
}

int fsync(int fd)
{
	int error = fd_fault(fd, OP_SYNC, "fsync");
	REAL(fsync);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	int error = fd_fault(fd, OP_SYNC, "fdatasync");
	REAL(fdatasync);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_fdatasync(fd);
}

int syncfs(int fd)
{
	int error = fd_fault(fd, OP_SYNC, "syncfs");
	REAL(syncfs);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_syncfs(fd);
}

int link(const char *from, const char *to)
{
	int error = path_fault(AT_FDCWD, to, OP_LINK, "link", false);
	REAL(link);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_link(from, to);
}

int linkat(int from_dir, const char *from, int to_dir, const char *to,
	   int flags)
{
	int error = path_fault(to_dir, to, OP_LINK, "linkat", false);
	REAL(linkat);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_linkat(from_dir, from, to_dir, to, flags);
}

int rename(const char *from, const char *to)
{
	int error = path_fault(AT_FDCWD, to, OP_RENAME, "rename", false);
	REAL(rename);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_rename(from, to);
}

int renameat(int from_dir, const char *from, int to_dir, const char *to)
{
	int error = path_fault(to_dir, to, OP_RENAME, "renameat", false);
	REAL(renameat);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_renameat(from_dir, from, to_dir, to);
}

int renameat2(int from_dir, const char *from, int to_dir, const char *to,
	      unsigned flags)
{
	int error = path_fault(to_dir, to, OP_RENAME, "renameat2", false);
	REAL(renameat2);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_renameat2(from_dir, from, to_dir, to, flags);
}

/* The open family takes a mode only with O_CREAT or O_TMPFILE. */
static mode_t open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

int open(const char *path, int flags, ...)
{
	int error = create_fault(AT_FDCWD, path, flags);
	va_list ap;
	mode_t mode;
	REAL(open);

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	int error = create_fault(AT_FDCWD, path, flags);
	va_list ap;
	mode_t mode;
	REAL(open64);

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_open64(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	int error = create_fault(dirfd, path, flags);
	va_list ap;
	mode_t mode;
	REAL(openat);

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_openat(dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode)
{
	int error = create_fault(AT_FDCWD, path, O_CREAT);
	REAL(creat);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_creat(path, mode);
}

/* mkstemp() replaces the X's, so the template's directory decides. */
static int template_fault(const char *template)
{
	return path_fault(AT_FDCWD, template, OP_CREATE, "mkstemp", false);
}

int mkstemp(char *template)
{
	int error = template_fault(template);
	REAL(mkstemp);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_mkstemp(template);
}

int mkostemp(char *template, int flags)
{
	int error = template_fault(template);
	REAL(mkostemp);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_mkostemp(template, flags);
}

int mkfifo(const char *path, mode_t mode)
{
	int error = path_fault(AT_FDCWD, path, OP_CREATE, "mkfifo", false);
	REAL(mkfifo);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_mkfifo(path, mode);
}

int mkfifoat(int dirfd, const char *path, mode_t mode)
{
	int error = path_fault(dirfd, path, OP_CREATE, "mkfifoat", false);
	REAL(mkfifoat);

	if (error != 0) {
		errno = error;
		return -1;
	}
	return real_mkfifoat(dirfd, path, mode);
}

/* _FORTIFY_SOURCE builds call these when the flags are not constant. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

/* stdio. */

size_t fwrite(const void *data, size_t size, size_t count, FILE *fp)
{
	int error = stream_fault(fp, "fwrite");
	REAL(fwrite);

	if (error != 0) {
		fail_stream(fp, error);
		return 0;
	}
	return real_fwrite(data, size, count, fp);
}

int fputs(const char *text, FILE *fp)
{
	int error = stream_fault(fp, "fputs");
	REAL(fputs);

	if (error != 0) {
		fail_stream(fp, error);
		return EOF;
	}
	return real_fputs(text, fp);
}

int fputc(int c, FILE *fp)
{
	int error = stream_fault(fp, "fputc");
	REAL(fputc);

	if (error != 0) {
		fail_stream(fp, error);
		return EOF;
	}
	return real_fputc(c, fp);
}

int putc(int c, FILE *fp)
{
	return fputc(c, fp);
}

int vfprintf(FILE *fp, const char *format, va_list ap)
{
	int error = stream_fault(fp, "fprintf");
	REAL(vfprintf);

	if (error != 0) {
		fail_stream(fp, error);
		return -1;
	}
	return real_vfprintf(fp, format, ap);
}

int fprintf(FILE *fp, const char *format, ...)
{
	va_list ap;
	int status;

	va_start(ap, format);
	status = vfprintf(fp, format, ap);
	va_end(ap);
	return status;
}

/* The fortified entry points; the format checks they add are dropped,
 * which a test library can afford. */
int __vfprintf_chk(FILE *fp, int flag, const char *format, va_list ap)
    __attribute__((format(printf, 3, 0)));
int __fprintf_chk(FILE *fp, int flag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

int __vfprintf_chk(FILE *fp, int flag, const char *format, va_list ap)
{
	(void)flag;
	return vfprintf(fp, format, ap);
}

int __fprintf_chk(FILE *fp, int flag, const char *format, ...)
{
	va_list ap;
	int status;

	(void)flag;
	va_start(ap, format);
	status = vfprintf(fp, format, ap);
	va_end(ap);
	return status;
}

int fflush(FILE *fp)
{
	int error = fp != NULL && __fpending(fp) > 0
			? stream_fault(fp, "fflush")
			: 0;
	REAL(fflush);

	if (error != 0) {
		fail_stream(fp, error);
		return EOF;
	}
	return real_fflush(fp);
}

int fclose(FILE *fp)
{
	int error = __fpending(fp) > 0 ? stream_fault(fp, "fclose") : 0;
	REAL(fclose);

	if (error != 0) {
		__fpurge(fp);
		real_fclose(fp);
		errno = error;
		return EOF;
	}
	return real_fclose(fp);
}
