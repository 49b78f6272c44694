/* announce.c: the link-layer side of the VIP library, over AF_PACKET:
 * gratuitous ARP and unsolicited neighbour advertisements that move the
 * neighbours' caches to this node, and ARP / DAD probes that tell whether
 * another host already answers for an address. */
#include "vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip6.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ARP_LEN 28
#define NA_LEN (sizeof(struct ip6_hdr) + 24 + 8)
#define NS_LEN (sizeof(struct ip6_hdr) + 24)

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

static int get_mac(const char *ifname, uint8_t mac[6], char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	int e = errno;
	close(fd);
	if (rc < 0) {
		seterr(err, errlen, "cannot read the MAC address of %s: %s", ifname, strerror(e));
		return -e;
	}
	if (ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */) {
		seterr(err, errlen, "%s is not an Ethernet interface", ifname);
		return -EOPNOTSUPP;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* A packet socket for one EtherType bound to the interface. */
static int packet_socket(int ifindex, uint16_t proto, const char *ifname, char *err, size_t errlen)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(proto));
	if (fd < 0) {
		int e = errno;
		if (e == EPERM || e == EACCES)
			seterr(err, errlen, "no permission to send raw packets on %s (needs CAP_NET_RAW: run as root)",
			       ifname);
		else
			seterr(err, errlen, "packet socket: %s", strerror(e));
		return -e;
	}
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int e = errno;
		seterr(err, errlen, "bind packet socket to %s: %s", ifname, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static int send_frame(int fd, int ifindex, uint16_t proto, const uint8_t dst[6], const void *p, size_t n)
{
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dst, 6);
	if (sendto(fd, p, n, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}

static void build_arp(uint8_t *p, uint16_t op, const uint8_t sha[6], const void *spa,
		      const uint8_t tha[6], const void *tpa)
{
	p[0] = 0; p[1] = 1;            /* Ethernet */
	p[2] = 0x08; p[3] = 0x00;      /* IPv4 */
	p[4] = 6; p[5] = 4;
	p[6] = (uint8_t)(op >> 8); p[7] = (uint8_t)op;
	memcpy(p + 8, sha, 6);
	memcpy(p + 14, spa, 4);
	memcpy(p + 18, tha, 6);
	memcpy(p + 24, tpa, 4);
}

static uint16_t icmp6_csum(const struct in6_addr *src, const struct in6_addr *dst,
			   const uint8_t *msg, size_t len)
{
	uint32_t sum = 0;
	const uint8_t *s = src->s6_addr, *d = dst->s6_addr;
	for (int i = 0; i < 16; i += 2)
		sum += (uint32_t)(s[i] << 8 | s[i + 1]) + (uint32_t)(d[i] << 8 | d[i + 1]);
	sum += (uint32_t)len;
	sum += IPPROTO_ICMPV6;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(msg[i] << 8 | msg[i + 1]);
	if (len & 1)
		sum += (uint32_t)msg[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv6 header + ICMPv6 neighbour message (type 135 or 136) into p.  With a
 * link-layer option when lla is not NULL.  Returns the frame length. */
static size_t build_nd(uint8_t *p, uint8_t type, uint8_t flags, const struct in6_addr *src,
		       const struct in6_addr *dst, const struct in6_addr *target, const uint8_t *lla)
{
	size_t icmp_len = 24 + (lla ? 8 : 0);
	struct ip6_hdr ip;
	memset(&ip, 0, sizeof(ip));
	ip.ip6_flow = htonl(6u << 28);
	ip.ip6_plen = htons((uint16_t)icmp_len);
	ip.ip6_nxt = IPPROTO_ICMPV6;
	ip.ip6_hlim = 255;
	ip.ip6_src = *src;
	ip.ip6_dst = *dst;
	memcpy(p, &ip, sizeof(ip));
	uint8_t *m = p + sizeof(ip);
	memset(m, 0, icmp_len);
	m[0] = type;
	m[4] = flags;
	memcpy(m + 8, target, 16);
	if (lla) {
		m[24] = type == ND_NEIGHBOR_ADVERT ? ND_OPT_TARGET_LINKADDR : ND_OPT_SOURCE_LINKADDR;
		m[25] = 1;
		memcpy(m + 26, lla, 6);
	}
	uint16_t c = icmp6_csum(src, dst, m, icmp_len);
	m[2] = (uint8_t)(c >> 8);
	m[3] = (uint8_t)c;
	return sizeof(ip) + icmp_len;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int vip_announce(const char *ifname, const struct vip_addr *v, unsigned count,
		 unsigned interval_ms, char *err, size_t errlen)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t allnodes_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	uint8_t mac[6], frame[128];
	int idx = vip_ifindex(ifname, err, errlen), rc;
	if (idx < 0)
		return idx;
	if ((rc = get_mac(ifname, mac, err, errlen)) < 0)
		return rc;
	uint16_t proto = v->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6;
	int fd = packet_socket(idx, proto, ifname, err, errlen);
	if (fd < 0)
		return fd;
	if (count == 0)
		count = 1;
	for (unsigned i = 0; i < count; i++) {
		if (i)
			sleep_ms(interval_ms);
		if (v->family == AF_INET) {
			/* a request (target MAC unknown) and a reply (target MAC =
			 * sender MAC): Linux treats both as gratuitous */
			static const uint8_t zero[6] = { 0 };
			build_arp(frame, 1, mac, &v->a.v4, zero, &v->a.v4);
			rc = send_frame(fd, idx, proto, bcast, frame, ARP_LEN);
			if (rc == 0) {
				build_arp(frame, 2, mac, &v->a.v4, mac, &v->a.v4);
				rc = send_frame(fd, idx, proto, bcast, frame, ARP_LEN);
			}
		} else {
			struct in6_addr all;
			inet_pton(AF_INET6, "ff02::1", &all);
			size_t n = build_nd(frame, ND_NEIGHBOR_ADVERT, 0x20 /* override */,
					    &v->a.v6, &all, &v->a.v6, mac);
			rc = send_frame(fd, idx, proto, allnodes_mac, frame, n);
		}
		if (rc < 0) {
			seterr(err, errlen, "sending the announcement on %s: %s", ifname, strerror(-rc));
			close(fd);
			return rc;
		}
	}
	close(fd);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a received frame says another host owns v. */
static int answers_for(const struct vip_addr *v, const uint8_t *p, size_t n, const uint8_t mymac[6],
		       const uint8_t srcmac[6])
{
	if (!memcmp(srcmac, mymac, 6))
		return 0;
	if (v->family == AF_INET) {
		/* any ARP packet whose sender protocol address is v */
		return n >= ARP_LEN && p[2] == 0x08 && p[3] == 0 && !memcmp(p + 14, &v->a.v4, 4);
	}
	if (n < NS_LEN)
		return 0;
	const struct ip6_hdr *ip = (const struct ip6_hdr *)p;
	const uint8_t *m = p + sizeof(*ip);
	return ip->ip6_nxt == IPPROTO_ICMPV6 && m[0] == ND_NEIGHBOR_ADVERT &&
	       !memcmp(m + 8, &v->a.v6, 16);
}

int vip_probe(const char *ifname, const struct vip_addr *v, unsigned timeout_ms,
	      uint8_t *mac_out, char *err, size_t errlen)
{
	uint8_t mac[6], frame[128], dst[6];
	int idx = vip_ifindex(ifname, err, errlen), rc;
	if (idx < 0)
		return idx;
	if ((rc = get_mac(ifname, mac, err, errlen)) < 0)
		return rc;
	uint16_t proto = v->family == AF_INET ? ETH_P_ARP : ETH_P_IPV6;
	int fd = packet_socket(idx, proto, ifname, err, errlen);
	if (fd < 0)
		return fd;
	size_t n;
	if (v->family == AF_INET) {
		static const uint8_t zero[6] = { 0 };
		struct in_addr any = { 0 };
		memset(dst, 0xff, 6);
		build_arp(frame, 1, mac, &any, zero, &v->a.v4);
		n = ARP_LEN;
	} else {
		/* DAD-style solicitation from :: to the solicited-node group */
		struct in6_addr src, group;
		memset(&src, 0, sizeof(src));
		inet_pton(AF_INET6, "ff02::1:ff00:0", &group);
		memcpy(group.s6_addr + 13, v->a.v6.s6_addr + 13, 3);
		dst[0] = 0x33; dst[1] = 0x33;
		memcpy(dst + 2, group.s6_addr + 12, 4);
		n = build_nd(frame, ND_NEIGHBOR_SOLICIT, 0, &src, &group, &v->a.v6, NULL);
	}
	/* ask twice, half the time apart, in case the first is lost */
	long long start = now_ms(), deadline = start + timeout_ms;
	int sent = 0;
	rc = 0;
	while (rc == 0) {
		long long t = now_ms();
		if (t >= deadline)
			break;
		if (sent < 2 && t >= start + (long long)sent * timeout_ms / 2) {
			int s = send_frame(fd, idx, proto, dst, frame, n);
			if (s < 0) {
				seterr(err, errlen, "sending the probe on %s: %s", ifname, strerror(-s));
				rc = s;
				break;
			}
			sent++;
		}
		long long next = sent < 2 ? start + (long long)timeout_ms / 2 : deadline;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)((next > t ? next : deadline) - t));
		if (pr < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (pr <= 0)
			continue;
		uint8_t in[1500];
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t got = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
		if (got < 0)
			continue;
		if (from.sll_pkttype == PACKET_OUTGOING || from.sll_halen != 6)
			continue;
		if (answers_for(v, in, (size_t)got, mac, from.sll_addr)) {
			if (mac_out)
				memcpy(mac_out, from.sll_addr, 6);
			rc = 1;
		}
	}
	close(fd);
	return rc;
}
