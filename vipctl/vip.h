/* vip.h: the virtual IP library shared by vipctl and heartbeatd.  Adds,
 * removes and lists interface addresses over rtnetlink (NETLINK_ROUTE, no
 * external tools), announces an address with gratuitous ARP (IPv4) or an
 * unsolicited neighbour advertisement (IPv6) over AF_PACKET, and probes
 * whether another host on the link already answers for an address.
 * Every function returns 0 (or a documented positive value) on success and
 * a negative errno on failure, with a human-readable message in err. */
#ifndef MHAFS_VIP_H
#define MHAFS_VIP_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define VIP_ERRLEN 256

struct vip_addr {
	int family;              /* AF_INET or AF_INET6 */
	unsigned prefix;         /* 0..32 or 0..128 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	} a;
};

/* Parse "ADDR/PREFIX" (or "ADDR" when need_prefix is 0, giving /32 or /128).
 * Returns 0 or -EINVAL with err filled. */
int vip_parse(const char *text, int need_prefix, struct vip_addr *out,
	      char *err, size_t errlen);
/* "ADDR/PREFIX" into buf (at least 64 bytes). */
const char *vip_format(const struct vip_addr *v, char *buf, size_t len);
/* Address only, without the prefix. */
const char *vip_format_addr(const struct vip_addr *v, char *buf, size_t len);

/* Interface index of ifname, or -ENODEV with "interface 'x' does not exist". */
int vip_ifindex(const char *ifname, char *err, size_t errlen);

/* Add the address to ifname (IPv6 with IFA_F_NODAD).  Returns 0 when added,
 * 1 when it was already there, or a negative errno. */
int vip_add(const char *ifname, const struct vip_addr *v, char *err, size_t errlen);
/* Remove it.  Returns 0 when removed, 1 when it was not there, or -errno. */
int vip_del(const char *ifname, const struct vip_addr *v, char *err, size_t errlen);
/* Whether ifname carries the address (any prefix): 1, 0, or -errno. */
int vip_present(const char *ifname, const struct vip_addr *v, char *err, size_t errlen);

/* Call fn for every address on ifname (or on every interface when ifname is
 * NULL).  Returns the number listed or -errno. */
typedef void (*vip_list_fn)(const char *ifname, const struct vip_addr *v,
			    unsigned ifa_flags, void *arg);
int vip_list(const char *ifname, vip_list_fn fn, void *arg, char *err, size_t errlen);

/* Send count announcements (gratuitous ARP request+reply for IPv4,
 * unsolicited NA with the override flag to ff02::1 for IPv6), interval_ms
 * apart.  Returns 0 or -errno. */
int vip_announce(const char *ifname, const struct vip_addr *v, unsigned count,
		 unsigned interval_ms, char *err, size_t errlen);

/* Ask the link whether another host answers for the address (an ARP probe
 * from 0.0.0.0, or a DAD neighbour solicitation from ::), waiting up to
 * timeout_ms.  Returns 1 when someone answered (their MAC in mac_out, 6
 * bytes, if not NULL), 0 when nobody did, or -errno. */
int vip_probe(const char *ifname, const struct vip_addr *v, unsigned timeout_ms,
	      uint8_t *mac_out, char *err, size_t errlen);

#endif
