/* vip.c: address parsing and the rtnetlink side of the VIP library: add,
 * delete, list and test interface addresses by talking NETLINK_ROUTE
 * directly.  Packets on the link (announce, probe) live in announce.c. */
#include "vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int vip_parse(const char *text, int need_prefix, struct vip_addr *out,
	      char *err, size_t errlen)
{
	char buf[128];
	const char *slash;
	size_t alen;

	memset(out, 0, sizeof(*out));
	if (!text || !*text) {
		seterr(err, errlen, "empty address");
		return -EINVAL;
	}
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(buf)) {
		seterr(err, errlen, "'%s' is not an address", text);
		return -EINVAL;
	}
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &out->a.v4) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &out->a.v6) == 1)
		out->family = AF_INET6;
	else {
		seterr(err, errlen, "'%s' is not an IPv4 or IPv6 address", buf);
		return -EINVAL;
	}
	unsigned max = out->family == AF_INET ? 32 : 128;
	if (!slash) {
		if (need_prefix) {
			seterr(err, errlen, "'%s' has no prefix length (write it as ADDR/PREFIX, e.g. %s/%u)",
			       text, buf, out->family == AF_INET ? 24 : 64);
			return -EINVAL;
		}
		out->prefix = max;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || p > max || slash[1] == '-' || slash[1] == '+') {
		seterr(err, errlen, "'%s': prefix length must be 0..%u", text, max);
		return -EINVAL;
	}
	out->prefix = (unsigned)p;
	return 0;
}

const char *vip_format_addr(const struct vip_addr *v, char *buf, size_t len)
{
	if (!inet_ntop(v->family, v->a.bytes, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *vip_format(const struct vip_addr *v, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	snprintf(buf, len, "%s/%u", vip_format_addr(v, a, sizeof(a)), v->prefix);
	return buf;
}

int vip_ifindex(const char *ifname, char *err, size_t errlen)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		seterr(err, errlen, "'%s' is not a valid interface name", ifname ? ifname : "");
		return -ENODEV;
	}
	unsigned idx = if_nametoindex(ifname);
	if (idx == 0) {
		seterr(err, errlen, "interface '%s' does not exist", ifname);
		return -ENODEV;
	}
	return (int)idx;
}

/* ---- netlink plumbing ---- */

struct nlreq {
	struct nlmsghdr n;
	struct ifaddrmsg ifa;
	char attrs[256];
};

static void add_attr(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
	char *base = (char *)r;
	size_t off = NLMSG_ALIGN(r->n.nlmsg_len);
	struct rtattr rta = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
	if (off + RTA_SPACE(len) > sizeof(*r))
		abort(); /* the request buffer is sized for every attribute we add */
	memcpy(base + off, &rta, sizeof(rta));
	memcpy(base + off + RTA_LENGTH(0), data, len);
	r->n.nlmsg_len = (uint32_t)(off + RTA_ALIGN(rta.rta_len));
}

static int nl_open(char *err, size_t errlen)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		int e = errno;
		seterr(err, errlen, "netlink socket: %s", strerror(e));
		return -e;
	}
	struct timeval tv = { .tv_sec = 2, .tv_usec = 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int nl_send(int fd, struct nlmsghdr *n)
{
	struct sockaddr_nl k = { .nl_family = AF_NETLINK };
	if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&k, sizeof(k)) < 0)
		return -errno;
	return 0;
}

/* Send a request that wants an acknowledgement; returns the kernel's answer
 * (0 or -errno). */
static int nl_transact(struct nlmsghdr *n)
{
	char buf[8192];
	int fd = nl_open(NULL, 0), rc;
	if (fd < 0)
		return fd;
	n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	n->nlmsg_seq = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	rc = nl_send(fd, n);
	while (rc == 0) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0) {
			rc = -errno;
			break;
		}
		int len = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != n->nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				close(fd);
				return e->error;
			}
		}
	}
	close(fd);
	return rc;
}

static void fill_req(struct nlreq *r, int type, int flags, int ifindex, const struct vip_addr *v,
		     unsigned prefix)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r->n.nlmsg_type = (unsigned short)type;
	r->n.nlmsg_flags = (unsigned short)flags;
	r->ifa.ifa_family = (unsigned char)v->family;
	r->ifa.ifa_prefixlen = (unsigned char)prefix;
	r->ifa.ifa_index = (unsigned)ifindex;
	r->ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	size_t alen = v->family == AF_INET ? 4 : 16;
	add_attr(r, IFA_LOCAL, v->a.bytes, alen);
	add_attr(r, IFA_ADDRESS, v->a.bytes, alen);
}

static int perm_error(int rc, const char *what, const char *ifname, char *err, size_t errlen)
{
	if (rc == -EPERM || rc == -EACCES)
		seterr(err, errlen, "no permission to %s addresses on %s (needs CAP_NET_ADMIN: run as root)",
		       what, ifname);
	else
		seterr(err, errlen, "cannot %s address on %s: %s", what, ifname, strerror(-rc));
	return rc;
}

/* ---- listing ---- */

struct find_ctx {
	const struct vip_addr *want;
	int ifindex;
	unsigned prefix;  /* of the match */
	int found;
};

/* Walk every address (family AF_UNSPEC); cb gets the ifindex too. */
typedef void (*walk_fn)(int ifindex, const struct vip_addr *v, unsigned flags, void *arg);

static int addr_walk(walk_fn cb, void *arg, char *err, size_t errlen)
{
	struct {
		struct nlmsghdr n;
		struct ifaddrmsg ifa;
	} req;
	char buf[16384];
	int fd = nl_open(err, errlen), count = 0;
	if (fd < 0)
		return fd;
	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	req.n.nlmsg_type = RTM_GETADDR;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.n.nlmsg_seq = (uint32_t)time(NULL) ^ 0x5a5a;
	req.ifa.ifa_family = AF_UNSPEC;
	int rc = nl_send(fd, &req.n);
	if (rc < 0) {
		seterr(err, errlen, "netlink dump request: %s", strerror(-rc));
		close(fd);
		return rc;
	}
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof(buf), 0);
		if (got < 0) {
			rc = -errno;
			seterr(err, errlen, "netlink dump: %s", strerror(errno));
			close(fd);
			return rc;
		}
		int len = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != req.n.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				close(fd);
				return count;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				seterr(err, errlen, "netlink dump: %s", strerror(-e->error));
				close(fd);
				return e->error ? e->error : -EIO;
			}
			if (h->nlmsg_type != RTM_NEWADDR)
				continue;
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
				continue;
			int alen = (int)IFA_PAYLOAD(h);
			const void *local = NULL, *address = NULL;
			unsigned flags = ifa->ifa_flags;
			for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type == IFA_LOCAL)
					local = RTA_DATA(a);
				else if (a->rta_type == IFA_ADDRESS)
					address = RTA_DATA(a);
				else if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) >= 4)
					memcpy(&flags, RTA_DATA(a), 4);
			}
			const void *p = local ? local : address;
			if (!p)
				continue;
			struct vip_addr v;
			memset(&v, 0, sizeof(v));
			v.family = ifa->ifa_family;
			v.prefix = ifa->ifa_prefixlen;
			memcpy(v.a.bytes, p, v.family == AF_INET ? 4 : 16);
			cb((int)ifa->ifa_index, &v, flags, arg);
			count++;
		}
	}
}

static int same_addr(const struct vip_addr *x, const struct vip_addr *y)
{
	return x->family == y->family &&
	       !memcmp(x->a.bytes, y->a.bytes, x->family == AF_INET ? 4 : 16);
}

static void find_cb(int ifindex, const struct vip_addr *v, unsigned flags, void *arg)
{
	struct find_ctx *c = arg;
	if (ifindex == c->ifindex && same_addr(v, c->want)) {
		c->found = 1;
		c->prefix = v->prefix;
	}
}

static int find_addr(int ifindex, const struct vip_addr *v, unsigned *prefix, char *err, size_t errlen)
{
	struct find_ctx c = { .want = v, .ifindex = ifindex };
	int rc = addr_walk(find_cb, &c, err, errlen);
	if (rc < 0)
		return rc;
	if (c.found && prefix)
		*prefix = c.prefix;
	return c.found;
}

int vip_present(const char *ifname, const struct vip_addr *v, char *err, size_t errlen)
{
	int idx = vip_ifindex(ifname, err, errlen);
	if (idx < 0)
		return idx;
	return find_addr(idx, v, NULL, err, errlen);
}

struct list_ctx {
	int ifindex;
	vip_list_fn fn;
	void *arg;
	int n;
};

static void list_cb(int ifindex, const struct vip_addr *v, unsigned flags, void *arg)
{
	struct list_ctx *c = arg;
	char name[IF_NAMESIZE];
	if (c->ifindex > 0 && ifindex != c->ifindex)
		return;
	if (!if_indextoname((unsigned)ifindex, name))
		snprintf(name, sizeof(name), "if%d", ifindex);
	c->fn(name, v, flags, c->arg);
	c->n++;
}

int vip_list(const char *ifname, vip_list_fn fn, void *arg, char *err, size_t errlen)
{
	struct list_ctx c = { .ifindex = 0, .fn = fn, .arg = arg };
	if (ifname) {
		c.ifindex = vip_ifindex(ifname, err, errlen);
		if (c.ifindex < 0)
			return c.ifindex;
	}
	int rc = addr_walk(list_cb, &c, err, errlen);
	return rc < 0 ? rc : c.n;
}

/* ---- add / delete ---- */

int vip_add(const char *ifname, const struct vip_addr *v, char *err, size_t errlen)
{
	struct nlreq r;
	int idx = vip_ifindex(ifname, err, errlen);
	if (idx < 0)
		return idx;
	int rc = find_addr(idx, v, NULL, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 1)
		return 1;
	fill_req(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, idx, v, v->prefix);
	if (v->family == AF_INET6) {
		/* No duplicate address detection: after a split-brain both nodes
		 * may briefly hold the VIP, and DAD would leave it "dadfailed". */
		uint32_t fl = IFA_F_NODAD;
		r.ifa.ifa_flags = IFA_F_NODAD;
		add_attr(&r, IFA_FLAGS, &fl, sizeof(fl));
	} else {
		struct in_addr brd = v->a.v4;
		if (v->prefix < 31) {
			uint32_t mask = v->prefix ? htonl(~((1u << (32 - v->prefix)) - 1)) : 0;
			brd.s_addr |= ~mask;
			add_attr(&r, IFA_BROADCAST, &brd, 4);
		}
	}
	rc = nl_transact(&r.n);
	if (rc == -EEXIST)
		return 1;
	if (rc < 0)
		return perm_error(rc, "add", ifname, err, errlen);
	return 0;
}

int vip_del(const char *ifname, const struct vip_addr *v, char *err, size_t errlen)
{
	struct nlreq r;
	unsigned prefix = 0;
	int idx = vip_ifindex(ifname, err, errlen);
	if (idx < 0)
		return idx;
	int rc = find_addr(idx, v, &prefix, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 1;
	/* delete with the prefix the kernel has, whatever the caller wrote */
	fill_req(&r, RTM_DELADDR, 0, idx, v, prefix);
	rc = nl_transact(&r.n);
	if (rc == -EADDRNOTAVAIL || rc == -ENOENT)
		return 1;
	if (rc < 0)
		return perm_error(rc, "remove", ifname, err, errlen);
	return 0;
}
