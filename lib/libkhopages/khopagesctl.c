// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * khopagesctl: inspect khopages sessions, discard a checkpoint handed over
 * in a Live Update session nobody will restore, move a process's pages out
 * of KHO scratch ahead of its dump, and find the Live Update sessions
 * processes hold.
 *
 * Exit status: 0 success, 1 the operation failed, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "khopages.h"

/* The UAPI counts pages in 4 KiB units whatever the CPU's page size. */
#define KHOP_PAGE	4096.0
#define MIB		(1024.0 * 1024.0)

enum { EXIT_OP = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: khopagesctl COMMAND [ARGS]\n"
		"  list                      table of all sessions\n"
		"  show NAME | stats NAME    every counter of one session\n"
		"  discard NAME [--luo]      after the kexec, retrieve Live Update session\n"
		"                            NAME and finish it: the pages of its khopages\n"
		"                            file are freed (--luo: the same, kept for\n"
		"                            scripts)\n"
		"  evacuate PID              move the pages of a running process out of\n"
		"                            KHO scratch ahead of its dump (less to move\n"
		"                            while it is frozen)\n"
		"  features [NAME...]        the driver's commands and features; with\n"
		"                            NAMEs, fail unless it has each of them\n"
		"  luo                       the Live Update sessions processes hold open\n"
		"                            (as root: all processes), each with the state\n"
		"                            of the khopages session of its name; then the\n"
		"                            preserved or retrieved khopages sessions\n"
		"                            whose Live Update session nobody holds\n"
		"  help                      this text\n"
		"The device is $KHOPAGES_DEVICE, default " KHOPAGES_DEVICE ".\n");
}

static int __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("khopagesctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_OP;
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("khopagesctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return EXIT_USAGE;
}

static int check_name(const char *name)
{
	if (khop_valid_name(name))
		return 0;
	return usage_error("invalid session name '%s': 1..63 characters of [A-Za-z0-9._-]",
			   name);
}

static int open_dev(struct khop **k)
{
	if (khop_open(k) < 0)
		return fail("%s", khop_open_error());
	return 0;
}

static double mib(uint64_t pages)
{
	return (double)pages * KHOP_PAGE / MIB;
}

static void bytes_per_page(char *buf, size_t size, uint64_t bytes, uint64_t pages)
{
	if (pages)
		snprintf(buf, size, "%.3f", (double)bytes / (double)pages);
	else
		snprintf(buf, size, "-");
}

static int cmd_list(int argc, char **argv)
{
	struct khopages_session_info *infos;
	struct khop *k;
	size_t nr;
	int ret;

	(void)argv;
	if (argc != 0)
		return usage_error("list takes no arguments");
	ret = open_dev(&k);
	if (ret)
		return ret;
	if (khop_list(k, &infos, &nr) < 0) {
		ret = fail("%s", khop_error(k));
		khop_close(k);
		return ret;
	}
	khop_close(k);

	printf("%-24s %-10s %5s %10s %9s %9s %11s %7s\n", "NAME", "STATE",
	       "PIDS", "PAGES", "MiB", "FOLIOS", "META-BYTES", "B/PAGE");
	for (size_t i = 0; i < nr; i++) {
		const struct khopages_session_info *s = &infos[i];
		char bpp[32];

		bytes_per_page(bpp, sizeof(bpp), s->meta_bytes, s->nr_pages);
		printf("%-24.*s %-10s %5" PRIu32 " %10" PRIu64 " %9.1f %9" PRIu64
		       " %11" PRIu64 " %7s\n",
		       KHOPAGES_NAME_MAX - 1, s->name, khop_state_name(s->state),
		       s->nr_pids, (uint64_t)s->nr_pages, mib(s->nr_pages),
		       (uint64_t)s->nr_folios, (uint64_t)s->meta_bytes, bpp);
	}
	free(infos);
	return 0;
}

static void print_info(const struct khopages_session_info *s)
{
	char bpp[32];
	int any = 0;

	bytes_per_page(bpp, sizeof(bpp), s->meta_bytes, s->nr_pages);
	printf("name:            %.*s\n", KHOPAGES_NAME_MAX - 1, s->name);
	printf("state:           %s (%" PRIu32 ")\n", khop_state_name(s->state),
	       s->state);
	printf("pids:            %" PRIu32 "\n", s->nr_pids);
	printf("pages:           %" PRIu64 " (%.1f MiB)\n", (uint64_t)s->nr_pages,
	       mib(s->nr_pages));
	printf("folios:          %" PRIu64 "\n", (uint64_t)s->nr_folios);
	printf("metadata bytes:  %" PRIu64 " (%s bytes/page)\n",
	       (uint64_t)s->meta_bytes, bpp);
	printf("moved:           %" PRIu64 "\n", (uint64_t)s->nr_moved);
	printf("mapped:          %" PRIu64 "\n", (uint64_t)s->nr_mapped);
	printf("shared:          %" PRIu64 "\n", (uint64_t)s->nr_shared);
	printf("copied:          %" PRIu64 "\n", (uint64_t)s->nr_copied);
	printf("released:        %" PRIu64 "\n", (uint64_t)s->nr_released);
	printf("folios by order:\n");
	for (int o = 0; o < KHOPAGES_MAX_ORDERS; o++) {
		uint64_t kib = 4ULL << o;

		if (!s->folios_by_order[o])
			continue;
		any = 1;
		if (kib >= 1024)
			printf("  order %2d (%4" PRIu64 " MiB): %" PRIu64 "\n", o,
			       kib / 1024, (uint64_t)s->folios_by_order[o]);
		else
			printf("  order %2d (%4" PRIu64 " KiB): %" PRIu64 "\n", o,
			       kib, (uint64_t)s->folios_by_order[o]);
	}
	if (!any)
		printf("  none\n");
}

static int cmd_show(int argc, char **argv)
{
	struct khopages_session_info info;
	struct khop *k;
	int ret;

	if (argc != 1)
		return usage_error("show needs exactly one session NAME");
	ret = check_name(argv[0]);
	if (ret)
		return ret;
	ret = open_dev(&k);
	if (ret)
		return ret;
	if (khop_stats(k, argv[0], &info) < 0)
		ret = fail("%s", khop_error(k));
	else
		print_info(&info);
	khop_close(k);
	return ret;
}

/*
 * discard NAME: nobody will restore the checkpoint in Live Update
 * session NAME. Its khopages file is retrieved (which checks it and takes
 * its pages) and the session finished; closing the file then releases the
 * khopages session, freeing every page. The other files of the session
 * (CRIU's images) go with the finish. A khopages file that cannot be
 * retrieved (refused: the kernel log says why) keeps its pages reserved
 * until the next kexec or reboot, as Live Update leaves it.
 */
static int discard_luo(const char *name)
{
	int sfd, fd = -1, ret = 0, err;

	if (khop_luo_retrieve(name, &sfd))
		return fail("%s", khop_luo_error());
	err = khop_luo_retrieve_fd(sfd, KHOP_LUO_TOKEN_PAGES, &fd);
	if (err && err != -ENOENT)
		ret = fail("%s", khop_luo_error());
	if (khop_luo_finish(sfd))
		ret = fail("%s", khop_luo_error());
	if (fd >= 0)
		close(fd);
	close(sfd);
	if (!ret)
		printf("discarded Live Update session %s%s\n", name,
		       fd >= 0 ? " and its khopages session" : "");
	return ret;
}

static int cmd_discard(int argc, char **argv)
{
	const char *name = NULL;
	int ret;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--luo"))
			continue;
		else if (argv[i][0] == '-' && argv[i][1])
			return usage_error("discard: unknown option '%s'", argv[i]);
		else if (name)
			return usage_error("discard takes one session NAME");
		else
			name = argv[i];
	}
	if (!name)
		return usage_error("discard needs a session NAME");
	ret = check_name(name);
	if (ret)
		return ret;
	return discard_luo(name);
}

/* The whole user half of a 47-bit address space: every VMA of a process. */
#define USER_SPAN	((1ULL << 47) - 4096)

static int cmd_evacuate(int argc, char **argv)
{
	struct khopages_evacuate ev;
	struct khop *k;
	char *end;
	long pid;
	int ret;

	if (argc != 1)
		return usage_error("evacuate needs exactly one PID");
	errno = 0;
	pid = strtol(argv[0], &end, 10);
	if (errno || *end || end == argv[0] || pid <= 0 || pid > INT32_MAX)
		return usage_error("invalid pid '%s'", argv[0]);
	ret = open_dev(&k);
	if (ret)
		return ret;
	if (khop_evacuate(k, (pid_t)pid, 0, USER_SPAN, &ev) < 0) {
		ret = fail("%s", khop_error(k));
		khop_close(k);
		return ret;
	}
	khop_close(k);
	printf("pid %ld: %" PRIu64 " pages (%.1f MiB) moved out of KHO scratch, %"
	       PRIu64 " still there\n", pid, (uint64_t)ev.nr_moved,
	       (double)ev.nr_moved * KHOP_PAGE / MIB, (uint64_t)ev.nr_left);
	return 0;
}

/* Bits of @mask as names (or "bit N"), space separated, on one line. */
static void print_bits(const char *label, uint64_t mask,
		       const char *(*name)(unsigned int))
{
	printf("%s:", label);
	for (unsigned int b = 0; b < 64; b++) {
		if (!(mask & (1ULL << b)))
			continue;
		/* NULL: unknown to this tool; "": retired, so unknown too. */
		if (name(b) && *name(b))
			printf(" %s", name(b));
		else
			printf(" bit%u", b);
	}
	printf("\n");
}

static int cmd_features(int argc, char **argv)
{
	struct khopages_api api;
	uint64_t need = 0;
	struct khop *k;
	int ret;

	for (int i = 0; i < argc; i++) {
		unsigned int b;

		for (b = 0; khop_feature_name(b); b++)
			if (*argv[i] && !strcmp(argv[i], khop_feature_name(b)))
				break;
		if (!khop_feature_name(b))
			return usage_error("unknown feature '%s'", argv[i]);
		need |= 1ULL << b;
	}
	ret = open_dev(&k);
	if (ret)
		return ret;
	ret = khop_api(k, need, &api);
	if (ret && ret != -EOPNOTSUPP) {
		ret = fail("%s", khop_error(k));
		khop_close(k);
		return ret;
	}
	print_bits("commands", api.ioctls, khop_command_name);
	print_bits("features", api.features, khop_feature_name);
	if (ret) {
		print_bits("missing", need & ~api.features, khop_feature_name);
		ret = fail("%s", khop_error(k));
	}
	khop_close(k);
	return ret;
}

/* @s for one line of output: printable ASCII as is, other bytes, the
 * backslash (and, when @quote, the double quote) as \xNN; within double
 * quotes when @quote. */
static const char *printable(char *buf, size_t size, const char *s, int quote)
{
	size_t o = 0;

	if (quote)
		buf[o++] = '"';
	for (; *s && o + 6 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\' && !(quote && c == '"'))
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
	}
	if (quote)
		buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* A Live Update session's name: as is when it could be a khopages one,
 * else quoted and escaped. */
static const char *show_name(char *buf, size_t size, const char *name)
{
	return printable(buf, size, name, !khop_valid_name(name));
}

static const struct khopages_session_info *
find_info(const struct khopages_session_info *infos, size_t nr, const char *name)
{
	for (size_t i = 0; i < nr; i++)
		if (!strncmp(infos[i].name, name, KHOPAGES_NAME_MAX))
			return &infos[i];
	return NULL;
}

static void print_khopages(const struct khopages_session_info *s)
{
	printf("khopages: %s, %" PRIu64 " page%s", khop_state_name(s->state),
	       (uint64_t)s->nr_pages, s->nr_pages == 1 ? "" : "s");
}

static int cmd_luo(int argc, char **argv)
{
	struct khopages_session_info *infos = NULL;
	char list_err[512] = "", nbuf[KHOPAGES_NAME_MAX * 4 + 8], cbuf[64 * 4 + 8];
	size_t nr_held, nr_infos = 0;
	struct khop_luo_held *held;
	struct khop *k;

	(void)argv;
	if (argc != 0)
		return usage_error("luo takes no arguments");
	if (khop_luo_list_held(&held, &nr_held) < 0)
		return fail("%s", khop_luo_error());
	/* Without the khopages device, the Live Update sessions still show. */
	if (khop_open(&k) < 0) {
		snprintf(list_err, sizeof(list_err), "%s", khop_open_error());
	} else {
		if (khop_list(k, &infos, &nr_infos) < 0) {
			snprintf(list_err, sizeof(list_err), "%s", khop_error(k));
			infos = NULL;
			nr_infos = 0;
		}
		khop_close(k);
	}

	if (!nr_held)
		printf("no Live Update session is open\n");
	/* One line per session and process, with all its fds of the session. */
	for (size_t i = 0, j; i < nr_held; i = j) {
		const struct khop_luo_held *h = &held[i];
		const struct khopages_session_info *s;

		printf("%s  pid %d (%s)  fd", show_name(nbuf, sizeof(nbuf), h->name),
		       (int)h->pid, h->comm[0] ? printable(cbuf, sizeof(cbuf), h->comm, 0) : "?");
		for (j = i; j < nr_held && held[j].pid == h->pid &&
		     !strcmp(held[j].name, h->name); j++)
			printf("%c%d", j == i ? ' ' : ',', held[j].fd);
		s = find_info(infos, nr_infos, h->name);
		if (s) {
			printf("  ");
			print_khopages(s);
		}
		printf("\n");
	}
	/* Preserved or retrieved, but no process holds its Live Update session. */
	for (size_t i = 0; i < nr_infos; i++) {
		const struct khopages_session_info *s = &infos[i];
		size_t h;

		if (s->state != KHOPAGES_STATE_PRESERVED && s->state != KHOPAGES_STATE_RETRIEVED)
			continue;
		for (h = 0; h < nr_held; h++)
			if (!strncmp(s->name, held[h].name, KHOPAGES_NAME_MAX))
				break;
		if (h < nr_held)
			continue;
		printf("%.*s  ", KHOPAGES_NAME_MAX - 1, s->name);
		print_khopages(s);
		printf("  (no process holds a Live Update session of this name)\n");
	}
	khop_luo_held_free(held);
	free(infos);
	if (list_err[0])
		return fail("khopages sessions not shown: %s", list_err);
	return 0;
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "list", cmd_list },
	{ "show", cmd_show },
	{ "stats", cmd_show },
	{ "discard", cmd_discard },
	{ "evacuate", cmd_evacuate },
	{ "features", cmd_features },
	{ "luo", cmd_luo },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("missing COMMAND");
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 2, argv + 2);
	return usage_error("unknown command '%s'", argv[1]);
}
