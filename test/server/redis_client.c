// SPDX-License-Identifier: GPL-2.0
/*
 * redis_client: one TCP connection to a Redis server, kept busy while the
 * server's machine is upgraded under it. It runs on the host and reaches
 * the server in the guest through QEMU's forwarded port.
 *
 *   redis_client --port PORT [--host HOST] --out FILE [--stop-file PATH]
 *                [--max-seconds N] [--prefix STR] [--db N]
 *
 * With --db, every connection starts with SELECT N (+OK), and the keys
 * live in that database. It connects once and sends one command at a time, waiting for each
 * reply, which it checks exactly. Iteration i (from 0) is
 *   SET PREFIX:k:<i % SLOTS> <64 bytes derived from i>    -> +OK
 *   GET PREFIX:k:<i % SLOTS>                              -> that value
 *   INCR PREFIX:counter                                   -> the counter + 1
 * and every OLD_EVERY iterations a GET of a key written up to SLOTS
 * iterations earlier (its value is known: the iteration that wrote it).
 * The counter is deleted once at the start, so its value is always
 * known: a command lost or executed twice shows in the next INCR.
 *
 * The longest stall is the longest time between two consecutive complete
 * replies (CLOCK_MONOTONIC), from the connection's start.
 *
 * When the connection breaks (EOF, an error, a reply that breaks the
 * protocol), the client records a reconnect and its reason, connects
 * again (attempts at least a second apart), reads the counter (it must be
 * the expected value, or one more if an INCR was in flight) and starts
 * the interrupted iteration again. Failures before the new connection's
 * first reply belong to the same reconnect.
 *
 * It stops when PATH exists (looked at every 50 ms between commands and
 * at every 1 s tick while a reply is due), on SIGINT or SIGTERM, or after N seconds
 * (default 3600). A reply that is due is waited for until it has been
 * due for 1 s; if it is still missing then, the run ends with a stall in
 * progress, and that is a failure: the connection was not carrying
 * commands when the run ended.
 *
 * Results: FILE (written as FILE.tmp, then renamed), key=value lines:
 *   commands=            replies received (every command answered)
 *   wrong=               replies that were not the expected ones, and
 *                        replies that broke the protocol
 *   first_wrong=         the first of them, on one line (empty if none)
 *   reconnects=          times the connection broke
 *   reconnect_reasons=   when and why, "; " between them (empty if none)
 *   longest_stall_s=     seconds, 3 decimals (with a stall in progress)
 *   longest_stall_at_s=  when that stall began, seconds since the start
 *   stall_in_progress_s= how long a reply was due when the run ended (0)
 *   duration_s=          the run's length
 *   local_port=          the client's port on its first connection
 *   last_counter=        the counter's last value read from the server
 *   stopped_by=          stop-file, max-seconds or signal
 *   result=              ok or FAIL
 * and one summary line on stdout. FILE.progress is rewritten every second
 * while it runs (commands=, since_reply_s=, elapsed_s=, reconnects=,
 * wrong=, connected=): a test sees commands flow before it starts the
 * upgrade, and again after it.
 *
 * Exit status: 0 all replies right and no reconnect and no stall in
 * progress at the end; 1 otherwise; 2 a usage or set-up error (bad
 * arguments, the first connection fails or closes before its first
 * reply, FILE cannot be written).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PROG		"redis_client"

#define SLOTS		100000UL	/* keys in use; a slot is rewritten every SLOTS iterations */
#define OLD_EVERY	10UL		/* an older key is read every OLD_EVERY iterations */
#define VALUE_LEN	64
#define MAX_PREFIX	200
#define RBUF_SIZE	(1UL << 20)	/* the largest reply accepted */
#define WBUF_SIZE	1024
#define TICK		1.0		/* s: progress file, stop file while a reply is due */
#define STOP_CHECK	0.05		/* s: stop file between commands */
#define CONNECT_WAIT	1.0		/* s: one connection attempt, and between attempts */
#define MAX_REASONS	20		/* reasons kept in reconnect_reasons= */
#define DETAIL_LEN	512

enum xfer {
	XFER_OK,	/* the reply is in c->reply */
	XFER_BROKEN,	/* the connection broke: c->why says how */
	XFER_STOP,	/* the run ends, a reply was due for TICK */
};

enum stop_reason { RUNNING, BY_STOP_FILE, BY_MAX_SECONDS, BY_SIGNAL };

struct reply {
	char type;		/* '+' '-' ':' '$', or 'n' for a nil bulk string */
	int64_t num;		/* ':' */
	const char *str;	/* '+' '-' '$': in the read buffer */
	size_t len;
};

struct client {
	/* options */
	const char *host, *port, *out, *stop_file, *prefix;
	const char *db;		/* NULL: no SELECT */
	double max_seconds;

	/* the connection */
	int fd;
	bool connected;
	bool replied_on_conn;	/* a reply came on this connection */
	int local_port;		/* on the first connection */
	char *rbuf;
	size_t rlen;		/* bytes in rbuf */
	size_t rused;		/* bytes of rbuf taken by the current reply */
	char wbuf[WBUF_SIZE];
	struct reply reply;
	char why[256];		/* how the connection broke */

	/* time, seconds of CLOCK_MONOTONIC */
	double start, deadline, last_reply, due_since;
	double next_progress, next_stop_check, next_attempt;
	double longest, longest_at;
	enum stop_reason stopped_by;

	/* what was checked */
	uint64_t commands;
	uint64_t wrong;
	char first_wrong[DETAIL_LEN];
	uint64_t reconnects;
	unsigned int attempts;	/* connection attempts of the current reconnect */
	char reasons[MAX_REASONS * 320];
	int64_t counter;	/* its value on the server, as far as we know */
	bool incr_in_flight;	/* the command being sent is the INCR */
	bool pending;		/* a command was sent, its reply is due */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Milliseconds until @t, 0 if past, at most @cap. */
static int ms_until(double t, double now, double cap)
{
	double d = t - now;

	if (d > cap)
		d = cap;
	if (d <= 0)
		return 0;
	return (int)(d * 1000) + 1;
}

/* ---- the values ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The value SET in iteration @i: VALUE_LEN printable bytes, no NUL. */
static void value_of(uint64_t i, char *v)
{
	static const char alphabet[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint64_t x = i;
	int n, k;

	n = snprintf(v, VALUE_LEN + 1, "v%016" PRIx64 ":", i);
	for (k = n; k < VALUE_LEN; k++) {
		x = mix64(x);
		v[k] = alphabet[x % (sizeof(alphabet) - 1)];
	}
}

/* The older iteration whose key iteration @i reads: one of the last
 * SLOTS - 1 before it, so its slot still holds its value. */
static uint64_t older_of(uint64_t i)
{
	uint64_t span = i < SLOTS - 1 ? i : SLOTS - 1;

	return i - 1 - mix64(i ^ 0x5a5a5a5a5a5a5a5aULL) % span;
}

/* ---- RESP ---- */

/* "*N\r\n$len\r\narg\r\n..." into @buf; the length, or 0 if it does not fit. */
static size_t resp_encode(char *buf, size_t size, int argc, const char *const *argv,
			  const size_t *lens)
{
	size_t n;
	int i, w;

	w = snprintf(buf, size, "*%d\r\n", argc);
	if (w < 0 || (size_t)w >= size)
		return 0;
	n = w;
	for (i = 0; i < argc; i++) {
		w = snprintf(buf + n, size - n, "$%zu\r\n", lens[i]);
		if (w < 0 || (size_t)w >= size - n || lens[i] + 2 > size - n - w)
			return 0;
		n += w;
		memcpy(buf + n, argv[i], lens[i]);
		n += lens[i];
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	return n;
}

/* A decimal integer filling [p, p + len) exactly. */
static bool parse_int(const char *p, size_t len, int64_t *val)
{
	bool neg = false;
	uint64_t v = 0, limit;
	size_t i = 0;

	if (len && p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len || len - i > 19)
		return false;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
		if (v > limit)
			return false;
	}
	*val = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/*
 * One reply from [p, p + n): the bytes it takes, 0 if it is not complete
 * yet, -1 if it is malformed (*why says how).
 */
static long resp_parse(const char *p, size_t n, struct reply *r, const char **why)
{
	const char *cr;
	size_t line;
	int64_t blen;

	cr = memchr(p, '\r', n);
	if (!cr || (size_t)(cr - p) + 1 == n)
		return 0;
	if (cr[1] != '\n') {
		*why = "CR without LF";
		return -1;
	}
	line = cr - p;
	if (line == 0) {
		*why = "empty line";
		return -1;
	}
	switch (p[0]) {
	case '+':
	case '-':
		r->type = p[0];
		r->str = p + 1;
		r->len = line - 1;
		return line + 2;
	case ':':
		if (!parse_int(p + 1, line - 1, &r->num)) {
			*why = "bad integer";
			return -1;
		}
		r->type = ':';
		return line + 2;
	case '$':
		if (!parse_int(p + 1, line - 1, &blen) || blen < -1 ||
		    blen > (int64_t)(RBUF_SIZE / 2)) {
			*why = "bad bulk string length";
			return -1;
		}
		if (blen == -1) {
			r->type = 'n';
			return line + 2;
		}
		if (n < line + 2 + (size_t)blen + 2)
			return 0;
		if (memcmp(p + line + 2 + blen, "\r\n", 2)) {
			*why = "bulk string without CRLF";
			return -1;
		}
		r->type = '$';
		r->str = p + line + 2;
		r->len = blen;
		return line + 2 + blen + 2;
	default:
		*why = "unexpected reply type";
		return -1;
	}
}

/* @len bytes of @s, printable, at most @max of them, appended to @out. */
static void escape(char *out, size_t size, const char *s, size_t len, size_t max)
{
	size_t n = strlen(out), i;

	for (i = 0; i < len && i < max && n + 5 < size; i++) {
		unsigned char ch = s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[n++] = ch;
		else
			n += snprintf(out + n, size - n, "\\x%02x", ch);
	}
	out[n] = 0;
	if (i < len && n + 4 < size)
		strcat(out, "...");
}

static void describe(char *out, size_t size, const struct reply *r)
{
	switch (r->type) {
	case ':':
		snprintf(out, size, ":%" PRId64, r->num);
		break;
	case 'n':
		snprintf(out, size, "nil");
		break;
	case '$':
		snprintf(out, size, "$%zu \"", r->len);
		escape(out, size, r->str, r->len, 80);
		if (strlen(out) + 1 < size)
			strcat(out, "\"");
		break;
	default:
		snprintf(out, size, "%c", r->type);
		escape(out, size, r->str, r->len, 80);
	}
}

/* ---- the connection ---- */

static void set_why(struct client *c, const char *what, int err)
{
	if (err)
		snprintf(c->why, sizeof(c->why), "%s: %s", what, strerror(err));
	else
		snprintf(c->why, sizeof(c->why), "%s", what);
}

/* Connect, waiting at most CONNECT_WAIT. The socket, or -1 (c->why). */
static int connect_once(struct client *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, zero = 0, rc;

	rc = getaddrinfo(c->host, c->port, &hints, &res);
	if (rc) {
		snprintf(c->why, sizeof(c->why), "%s: %s", c->host, gai_strerror(rc));
		return -1;
	}
	set_why(c, "connect: no address", 0);
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t len = sizeof(rc);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			set_why(c, "socket", errno);
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &zero, sizeof(zero)) ||
		    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
			set_why(c, "setsockopt", errno);
			goto next;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		if (errno != EINPROGRESS) {
			set_why(c, "connect", errno);
			goto next;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		do
			rc = poll(&pfd, 1, (int)(CONNECT_WAIT * 1000));
		while (rc < 0 && errno == EINTR && !got_signal);
		if (rc == 0) {
			set_why(c, "connect", ETIMEDOUT);
			goto next;
		}
		if (rc < 0) {
			set_why(c, "poll", errno);
			goto next;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &len)) {
			set_why(c, "getsockopt", errno);
			goto next;
		}
		if (!rc)
			break;
		set_why(c, "connect", rc);
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int local_port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* ---- time keeping, progress, stopping ---- */

static void write_progress(struct client *c, double now)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s.progress", c->out);
	snprintf(tmp, sizeof(tmp), "%s.progress.tmp", c->out);
	f = fopen(tmp, "w");
	if (!f)
		return;		/* the next second tries again */
	fprintf(f, "commands=%" PRIu64 "\nsince_reply_s=%.3f\nelapsed_s=%.3f\n"
		"reconnects=%" PRIu64 "\nwrong=%" PRIu64 "\nconnected=%d\n",
		c->commands, now - c->last_reply, now - c->start, c->reconnects,
		c->wrong, c->connected);
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* Whether the run should end now; writes the progress file when due. */
static bool stop_due(struct client *c, double now)
{
	if (now >= c->next_progress) {
		write_progress(c, now);
		c->next_progress = now + TICK;
	}
	if (c->stopped_by != RUNNING)
		return true;
	if (got_signal) {
		c->stopped_by = BY_SIGNAL;
	} else if (now >= c->deadline) {
		c->stopped_by = BY_MAX_SECONDS;
	} else if (c->stop_file && now >= c->next_stop_check) {
		c->next_stop_check = now + STOP_CHECK;
		if (access(c->stop_file, F_OK) == 0)
			c->stopped_by = BY_STOP_FILE;
	}
	return c->stopped_by != RUNNING;
}

/*
 * Wait until the socket is ready for @events. The run ends (XFER_STOP)
 * only when it should and the current command has been due for TICK: a
 * reply that takes microseconds is never cut off.
 */
static enum xfer wait_fd(struct client *c, short events)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = events };
		double now = now_s(), until;
		int rc;

		if (stop_due(c, now)) {
			if (now - c->due_since >= TICK)
				return XFER_STOP;
			until = c->due_since + TICK;
		} else {
			until = c->next_progress < c->deadline ? c->next_progress : c->deadline;
		}
		rc = poll(&pfd, 1, ms_until(until, now, TICK));
		if (rc > 0)
			return XFER_OK;
		if (rc < 0 && errno != EINTR) {
			set_why(c, "poll", errno);
			return XFER_BROKEN;
		}
	}
}

static void note_reply(struct client *c)
{
	double now = now_s();

	if (now - c->last_reply > c->longest) {
		c->longest = now - c->last_reply;
		c->longest_at = c->last_reply - c->start;
	}
	c->last_reply = now;
	c->pending = false;
	c->commands++;
	c->replied_on_conn = true;
}

static void count_wrong(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The server broke the protocol: a wrong reply, and the connection
 * cannot be trusted any more. */
static enum xfer protocol_fault(struct client *c, const char *what)
{
	snprintf(c->why, sizeof(c->why), "protocol error: %s", what);
	count_wrong(c, "after command %" PRIu64 " at %.3f s: %s", c->commands,
		    now_s() - c->start, c->why);
	return XFER_BROKEN;
}

/*
 * Send one command and read its reply into c->reply. The reply's bytes
 * stay in the read buffer until the next command.
 */
static enum xfer transact(struct client *c, int argc, const char *const *argv,
			  const size_t *lens)
{
	size_t len, sent = 0;
	enum xfer x;
	ssize_t n;

	len = resp_encode(c->wbuf, sizeof(c->wbuf), argc, argv, lens);
	if (!len)
		die(2, "a command does not fit in %d bytes", WBUF_SIZE);

	/* Drop the previous reply. Nothing may follow it: one command at a time. */
	if (c->rlen > c->rused)
		return protocol_fault(c, "data from the server that no command asked for");
	c->rlen = c->rused = 0;
	c->due_since = now_s();
	c->pending = true;

	while (sent < len) {
		n = send(c->fd, c->wbuf + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			set_why(c, "send", errno);
			return XFER_BROKEN;
		}
		x = wait_fd(c, POLLOUT);
		if (x != XFER_OK)
			return x;
	}

	for (;;) {
		const char *why = NULL;
		long used;

		used = resp_parse(c->rbuf, c->rlen, &c->reply, &why);
		if (used > 0) {
			c->rused = used;
			note_reply(c);
			return XFER_OK;
		}
		if (used < 0)
			return protocol_fault(c, why);
		if (c->rlen == RBUF_SIZE)
			return protocol_fault(c, "a reply larger than the read buffer");
		n = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
		if (n > 0) {
			c->rlen += n;
			continue;
		}
		if (n == 0) {
			set_why(c, "connection closed by the server (EOF)", 0);
			return XFER_BROKEN;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			set_why(c, "recv", errno);
			return XFER_BROKEN;
		}
		x = wait_fd(c, POLLIN);
		if (x != XFER_OK)
			return x;
	}
}

/* ---- checking ---- */

static void count_wrong(struct client *c, const char *fmt, ...)
{
	va_list ap;

	c->wrong++;
	if (c->wrong > 1)
		return;
	va_start(ap, fmt);
	vsnprintf(c->first_wrong, sizeof(c->first_wrong), fmt, ap);
	va_end(ap);
}

static void wrong_reply(struct client *c, const char *cmd, const char *want)
{
	char got[200] = "";

	describe(got, sizeof(got), &c->reply);
	count_wrong(c, "command %" PRIu64 " at %.3f s: %s: got %s, want %s",
		    c->commands, c->last_reply - c->start, cmd, got, want);
}

static void check_ok(struct client *c, const char *cmd)
{
	if (c->reply.type != '+' || c->reply.len != 2 || memcmp(c->reply.str, "OK", 2))
		wrong_reply(c, cmd, "+OK");
}

static void check_bulk(struct client *c, const char *cmd, const char *want, size_t len)
{
	char w[200] = "";

	if (c->reply.type == '$' && c->reply.len == len && !memcmp(c->reply.str, want, len))
		return;
	snprintf(w, sizeof(w), "$%zu \"", len);
	escape(w, sizeof(w), want, len, 80);
	strcat(w, "\"");
	wrong_reply(c, cmd, w);
}

/* The reply to INCR: the counter one up. Either way, the server's value
 * is the one to count on from now on (one anomaly, one wrong reply). */
static void check_incr(struct client *c, const char *cmd)
{
	char w[32];

	if (c->reply.type == ':' && c->reply.num == c->counter + 1) {
		c->counter++;
		return;
	}
	snprintf(w, sizeof(w), ":%" PRId64, c->counter + 1);
	wrong_reply(c, cmd, w);
	if (c->reply.type == ':')
		c->counter = c->reply.num;
}

/* ---- the run ---- */

static void record_break(struct client *c, uint64_t iter)
{
	size_t n = strlen(c->reasons);
	double now = now_s();

	close(c->fd);
	c->fd = -1;
	c->connected = false;
	c->attempts++;
	if (c->reconnects && !c->replied_on_conn) {
		/* A new connection that broke before its first reply: the
		 * same reconnect, one more attempt. */
		return;
	}
	c->reconnects++;
	c->attempts = 1;
	if (c->reconnects > MAX_REASONS)
		return;
	snprintf(c->reasons + n, sizeof(c->reasons) - n, "%s%s at %.3f s (iteration %" PRIu64 ")",
		 n ? "; " : "", c->why, now - c->start, iter);
}

/* SELECT the --db database on a new connection (if there is one). */
static enum xfer select_db(struct client *c)
{
	const char *argv[2] = { "SELECT", c->db };
	size_t lens[2] = { 6, 0 };
	char cmd[64];
	enum xfer x;

	if (!c->db)
		return XFER_OK;
	lens[1] = strlen(c->db);
	x = transact(c, 2, argv, lens);
	if (x == XFER_OK) {
		snprintf(cmd, sizeof(cmd), "SELECT %s", c->db);
		check_ok(c, cmd);
	}
	return x;
}

/*
 * A new connection after a break. One attempt a second at most, also when
 * the last one connected but broke before its first reply (QEMU's port
 * forward accepts, then closes when nothing answers in the guest). False
 * if the run ends first.
 */
static bool connect_again(struct client *c)
{
	for (;;) {
		double now;

		while ((now = now_s()) < c->next_attempt) {
			if (stop_due(c, now))
				return false;
			poll(NULL, 0, ms_until(c->next_attempt, now, TICK));
		}
		if (stop_due(c, now))
			return false;
		c->next_attempt = now + CONNECT_WAIT;
		c->fd = connect_once(c);
		if (c->fd >= 0) {
			c->connected = true;
			c->replied_on_conn = false;
			c->rlen = c->rused = 0;
			return true;
		}
		c->attempts++;
	}
}

/*
 * Connect again after a break and read the counter back: it must be the
 * value we know, or one more if the INCR in flight at the break was
 * executed (a nil is 0). False if the run ends first.
 */
static bool reconnect(struct client *c, uint64_t iter)
{
	char key[MAX_PREFIX + 16], cmd[MAX_PREFIX + 64], w[64];
	const char *argv[2];
	size_t lens[2], n;
	int64_t was = c->counter, got = -1;
	bool valid = false;
	enum xfer x;

	snprintf(key, sizeof(key), "%s:counter", c->prefix);
	argv[0] = "GET";
	argv[1] = key;
	lens[0] = 3;
	lens[1] = strlen(key);
	for (;;) {
		if (!connect_again(c))
			return false;
		x = select_db(c);
		if (x == XFER_OK)
			x = transact(c, 2, argv, lens);
		if (x == XFER_STOP)
			return false;
		if (x == XFER_OK)
			break;
		record_break(c, iter);
	}

	n = strlen(c->reasons);
	if (c->reconnects <= MAX_REASONS)
		snprintf(c->reasons + n, sizeof(c->reasons) - n,
			 ", connected again at %.3f s (port %d, attempt %u)",
			 c->last_reply - c->start, local_port_of(c->fd), c->attempts);

	if (c->reply.type == 'n') {
		got = 0;
		valid = was == 0;
	} else if (c->reply.type == '$' && parse_int(c->reply.str, c->reply.len, &got)) {
		valid = got == was || (c->incr_in_flight && got == was + 1);
	}
	if (!valid) {
		snprintf(cmd, sizeof(cmd), "GET %s after reconnecting", key);
		if (c->incr_in_flight)
			snprintf(w, sizeof(w), "\"%" PRId64 "\" or \"%" PRId64 "\"", was, was + 1);
		else
			snprintf(w, sizeof(w), "\"%" PRId64 "\"", was);
		wrong_reply(c, cmd, w);
	}
	c->counter = got < 0 ? 0 : got;
	return true;
}

static void run(struct client *c)
{
	char key[MAX_PREFIX + 32], old_key[MAX_PREFIX + 32], counter_key[MAX_PREFIX + 16];
	char value[VALUE_LEN + 1], old_value[VALUE_LEN + 1];
	char cmd[MAX_PREFIX + 128];
	const char *argv[3];
	size_t lens[3];
	uint64_t i = 0;
	enum xfer x;
	int step = 0;

	snprintf(counter_key, sizeof(counter_key), "%s:counter", c->prefix);

	/* A known start: no counter (a previous run's is removed). */
	argv[0] = "DEL";
	argv[1] = counter_key;
	lens[0] = 3;
	lens[1] = strlen(counter_key);
	x = select_db(c);
	if (x == XFER_OK && c->wrong)
		die(2, "%s:%s: %s", c->host, c->port, c->first_wrong);
	if (x == XFER_OK)
		x = transact(c, 2, argv, lens);
	if (x == XFER_BROKEN)
		die(2, "%s:%s: %s, before the first reply", c->host, c->port, c->why);
	if (x == XFER_STOP)
		return;
	if (c->reply.type != ':' || (c->reply.num != 0 && c->reply.num != 1)) {
		snprintf(cmd, sizeof(cmd), "DEL %s", counter_key);
		wrong_reply(c, cmd, ":0 or :1");
	}

	for (;;) {
		uint64_t slot = i % SLOTS;

		if (!c->connected) {
			if (!reconnect(c, i))
				return;
			step = 0;	/* the interrupted iteration again */
		}
		if (stop_due(c, now_s()))
			return;

		snprintf(key, sizeof(key), "%s:k:%" PRIu64, c->prefix, slot);
		c->incr_in_flight = false;
		switch (step) {
		case 0:
			value_of(i, value);
			argv[0] = "SET";
			argv[1] = key;
			argv[2] = value;
			lens[0] = 3;
			lens[1] = strlen(key);
			lens[2] = VALUE_LEN;
			x = transact(c, 3, argv, lens);
			if (x == XFER_OK) {
				snprintf(cmd, sizeof(cmd), "SET %s", key);
				check_ok(c, cmd);
			}
			break;
		case 1:
			argv[0] = "GET";
			argv[1] = key;
			lens[0] = 3;
			lens[1] = strlen(key);
			x = transact(c, 2, argv, lens);
			if (x == XFER_OK) {
				snprintf(cmd, sizeof(cmd), "GET %s", key);
				check_bulk(c, cmd, value, VALUE_LEN);
			}
			break;
		case 2:
			argv[0] = "INCR";
			argv[1] = counter_key;
			lens[0] = 4;
			lens[1] = strlen(counter_key);
			c->incr_in_flight = true;
			x = transact(c, 2, argv, lens);
			if (x == XFER_OK) {
				c->incr_in_flight = false;
				snprintf(cmd, sizeof(cmd), "INCR %s", counter_key);
				check_incr(c, cmd);
			}
			break;
		default: {
			uint64_t j = older_of(i);

			value_of(j, old_value);
			snprintf(old_key, sizeof(old_key), "%s:k:%" PRIu64, c->prefix, j % SLOTS);
			argv[0] = "GET";
			argv[1] = old_key;
			lens[0] = 3;
			lens[1] = strlen(old_key);
			x = transact(c, 2, argv, lens);
			if (x == XFER_OK) {
				snprintf(cmd, sizeof(cmd), "GET %s (iteration %" PRIu64 ")",
					 old_key, j);
				check_bulk(c, cmd, old_value, VALUE_LEN);
			}
			break;
		}
		}

		if (x == XFER_STOP)
			return;
		if (x == XFER_BROKEN) {
			record_break(c, i);
			continue;
		}
		step++;
		if (step == 3 && (i == 0 || i % OLD_EVERY))
			step = 4;
		if (step == 4) {
			step = 0;
			i++;
		}
	}
}

/* ---- the results ---- */

static const char *const stop_names[] = {
	[RUNNING] = "running",
	[BY_STOP_FILE] = "stop-file",
	[BY_MAX_SECONDS] = "max-seconds",
	[BY_SIGNAL] = "signal",
};

static int finish(struct client *c)
{
	double now = now_s(), in_progress = 0;
	char tmp[PATH_MAX];
	bool ok;
	FILE *f;

	/* Ended with a reply due, or without a connection: a stall that was
	 * still going on, counted into the longest. */
	if (!c->connected || c->pending) {
		in_progress = now - c->last_reply;
		if (in_progress > c->longest) {
			c->longest = in_progress;
			c->longest_at = c->last_reply - c->start;
		}
	}
	if (c->reconnects > MAX_REASONS) {
		size_t n = strlen(c->reasons);

		snprintf(c->reasons + n, sizeof(c->reasons) - n, "; %" PRIu64 " more",
			 c->reconnects - MAX_REASONS);
	}
	ok = !c->wrong && !c->reconnects && in_progress == 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", c->out);
	f = fopen(tmp, "w");
	if (!f)
		die(2, "%s: %s", tmp, strerror(errno));
	fprintf(f, "commands=%" PRIu64 "\n", c->commands);
	fprintf(f, "wrong=%" PRIu64 "\n", c->wrong);
	fprintf(f, "first_wrong=%s\n", c->first_wrong);
	fprintf(f, "reconnects=%" PRIu64 "\n", c->reconnects);
	fprintf(f, "reconnect_reasons=%s\n", c->reasons);
	fprintf(f, "longest_stall_s=%.3f\n", c->longest);
	fprintf(f, "longest_stall_at_s=%.3f\n", c->longest_at);
	fprintf(f, "stall_in_progress_s=%.3f\n", in_progress);
	fprintf(f, "duration_s=%.3f\n", now - c->start);
	fprintf(f, "local_port=%d\n", c->local_port);
	fprintf(f, "last_counter=%" PRId64 "\n", c->counter);
	fprintf(f, "stopped_by=%s\n", stop_names[c->stopped_by]);
	fprintf(f, "result=%s\n", ok ? "ok" : "FAIL");
	if (ferror(f) | fclose(f))
		die(2, "%s: write failed", tmp);
	if (rename(tmp, c->out))
		die(2, "rename %s to %s: %s", tmp, c->out, strerror(errno));

	printf(PROG ": %s: %" PRIu64 " commands in %.3f s, longest stall %.3f s at %.3f s",
	       ok ? "ok" : "FAIL", c->commands, now - c->start, c->longest, c->longest_at);
	if (in_progress > 0)
		printf(" (in progress at the end: %.3f s)", in_progress);
	printf(", %" PRIu64 " reconnects, %" PRIu64 " wrong, local port %d, stopped by %s\n",
	       c->reconnects, c->wrong, c->local_port, stop_names[c->stopped_by]);
	return ok ? 0 : 1;
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr, "usage: " PROG " --port PORT [--host HOST] --out FILE [--stop-file PATH]\n"
		"       [--max-seconds N] [--prefix STR] [--db N]\n");
	exit(2);
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long min,
			       unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		die(2, "%s: not a number from %lu to %lu: '%s'", opt, min, max, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'h' },
		{ "out", required_argument, NULL, 'o' },
		{ "stop-file", required_argument, NULL, 's' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "db", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	static char default_prefix[32];
	struct client c = {
		.host = "127.0.0.1",
		.max_seconds = 3600,
		.fd = -1,
	};
	struct sigaction sa = { .sa_handler = SIG_IGN };
	double now;
	int opt, status;

	sigemptyset(&sa.sa_mask);

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			parse_num("--port", optarg, 1, 65535);
			c.port = optarg;
			break;
		case 'h':
			c.host = optarg;
			break;
		case 'o':
			c.out = optarg;
			break;
		case 's':
			c.stop_file = optarg;
			break;
		case 'm':
			c.max_seconds = parse_num("--max-seconds", optarg, 1, 30 * 86400);
			break;
		case 'x':
			c.prefix = optarg;
			break;
		case 'd':
			parse_num("--db", optarg, 0, 65535);
			c.db = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !c.port || !c.out)
		usage();
	if (!c.prefix) {
		snprintf(default_prefix, sizeof(default_prefix), "redis_client:%d", (int)getpid());
		c.prefix = default_prefix;
	}
	if (!c.prefix[0] || strlen(c.prefix) > MAX_PREFIX)
		die(2, "--prefix: 1 to %d bytes", MAX_PREFIX);
	if (strlen(c.out) + 16 > PATH_MAX)
		die(2, "--out: path too long");
	if (c.stop_file && access(c.stop_file, F_OK) == 0)
		die(2, "the stop file %s exists already", c.stop_file);

	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);

	c.rbuf = malloc(RBUF_SIZE);
	if (!c.rbuf)
		die(2, "out of memory");

	c.fd = connect_once(&c);
	if (c.fd < 0)
		die(2, "%s:%s: %s", c.host, c.port, c.why);
	c.connected = true;
	c.local_port = local_port_of(c.fd);

	now = now_s();
	c.start = c.last_reply = c.due_since = now;
	c.deadline = now + c.max_seconds;
	c.next_progress = now;
	c.next_stop_check = now;

	run(&c);
	status = finish(&c);
	if (c.fd >= 0)
		close(c.fd);
	free(c.rbuf);
	return status;
}
