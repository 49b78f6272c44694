/* main.c: the vipctl command line: add, remove, show and announce a
 * virtual IP by hand, through the same library heartbeatd uses.
 * Exit status: 0 done (also when there was nothing to do), 1 error,
 * 2 usage, 3 "show ADDR": the address is absent. */
#include "vip.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define EXIT_USAGE 2
#define EXIT_ABSENT 3
#define PROBE_MS 300

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vipctl add ADDR/PREFIX dev IFACE [count N] [force]\n"
		"       vipctl del ADDR[/PREFIX] dev IFACE\n"
		"       vipctl show [ADDR[/PREFIX]] [dev IFACE]\n"
		"       vipctl announce ADDR[/PREFIX] dev IFACE [count N]\n"
		"ADDR is IPv4 or IPv6.  add probes the link first and refuses an address\n"
		"another host answers for, unless 'force'.  See vipctl(8).\n");
}

struct args {
	const char *cmd, *addr, *dev;
	unsigned count;
	int force;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->count = 3;
	if (argc < 2)
		return -1;
	a->cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "dev") && i + 1 < argc) {
			a->dev = argv[++i];
		} else if (!strcmp(argv[i], "count") && i + 1 < argc) {
			char *end;
			unsigned long n = strtoul(argv[++i], &end, 10);
			if (*end || n < 1 || n > 100 || argv[i][0] == '-') {
				fprintf(stderr, "vipctl: count must be 1..100, not '%s'\n", argv[i]);
				return -1;
			}
			a->count = (unsigned)n;
		} else if (!strcmp(argv[i], "force")) {
			a->force = 1;
		} else if (!a->addr && argv[i][0] != '-') {
			a->addr = argv[i];
		} else {
			fprintf(stderr, "vipctl: unexpected argument '%s'\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

static void show_cb(const char *ifname, const struct vip_addr *v, unsigned flags, void *arg)
{
	char buf[80];
	printf("%s %s%s%s%s\n", ifname, vip_format(v, buf, sizeof(buf)),
	       (flags & IFA_F_NODAD) ? " nodad" : "",
	       (flags & IFA_F_SECONDARY) ? " secondary" : "",
	       (flags & IFA_F_DADFAILED) ? " dadfailed" : "");
}

static int cmd_add(const struct args *a, const struct vip_addr *v)
{
	char err[VIP_ERRLEN], buf[80];
	int rc = vip_present(a->dev, v, err, sizeof(err));
	if (rc < 0)
		goto fail;
	if (rc == 0 && !a->force) {
		uint8_t mac[6];
		rc = vip_probe(a->dev, v, PROBE_MS, mac, err, sizeof(err));
		if (rc < 0)
			goto fail;
		if (rc == 1) {
			fprintf(stderr,
				"vipctl: %s is already in use on the link of %s by "
				"%02x:%02x:%02x:%02x:%02x:%02x (use 'force' to add it anyway)\n",
				vip_format(v, buf, sizeof(buf)), a->dev,
				mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
			return 1;
		}
	}
	rc = vip_add(a->dev, v, err, sizeof(err));
	if (rc < 0)
		goto fail;
	printf("%s on %s: %s\n", vip_format(v, buf, sizeof(buf)), a->dev,
	       rc == 1 ? "already present" : "added");
	rc = vip_announce(a->dev, v, a->count, 100, err, sizeof(err));
	if (rc < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "vipctl: %s\n", err);
	return 1;
}

int main(int argc, char **argv)
{
	struct args a;
	struct vip_addr v;
	char err[VIP_ERRLEN], buf[80];
	int rc;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (parse_args(argc, argv, &a) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	int is_show = !strcmp(a.cmd, "show");
	if (!is_show && strcmp(a.cmd, "add") && strcmp(a.cmd, "del") && strcmp(a.cmd, "announce")) {
		fprintf(stderr, "vipctl: unknown command '%s'\n", a.cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!is_show && (!a.addr || !a.dev)) {
		fprintf(stderr, "vipctl: %s needs an address and 'dev IFACE'\n", a.cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (a.addr && vip_parse(a.addr, !strcmp(a.cmd, "add"), &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "vipctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (a.dev && vip_ifindex(a.dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "vipctl: %s\n", err);
		return 1;
	}

	if (!strcmp(a.cmd, "add"))
		return cmd_add(&a, &v);
	if (!strcmp(a.cmd, "del")) {
		rc = vip_del(a.dev, &v, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "vipctl: %s\n", err);
			return 1;
		}
		printf("%s on %s: %s\n", vip_format_addr(&v, buf, sizeof(buf)), a.dev,
		       rc == 1 ? "not present" : "removed");
		return 0;
	}
	if (!strcmp(a.cmd, "announce")) {
		rc = vip_announce(a.dev, &v, a.count, 100, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "vipctl: %s\n", err);
			return 1;
		}
		printf("%s on %s: announced %u time%s\n", vip_format_addr(&v, buf, sizeof(buf)),
		       a.dev, a.count, a.count == 1 ? "" : "s");
		return 0;
	}
	/* show */
	if (a.addr) {
		if (!a.dev) {
			fprintf(stderr, "vipctl: show ADDR needs 'dev IFACE'\n");
			return EXIT_USAGE;
		}
		rc = vip_present(a.dev, &v, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "vipctl: %s\n", err);
			return 1;
		}
		printf("%s on %s: %s\n", vip_format_addr(&v, buf, sizeof(buf)), a.dev,
		       rc ? "present" : "absent");
		return rc ? 0 : EXIT_ABSENT;
	}
	rc = vip_list(a.dev, show_cb, NULL, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "vipctl: %s\n", err);
		return 1;
	}
	return 0;
}
