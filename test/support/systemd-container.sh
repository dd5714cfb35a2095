#!/bin/sh
# Boots systemd as PID 1 of a throwaway container, for tests of the agent's unit
# under real systemd (test/systemd.test.ts). Run as root:
#   systemd-container.sh DIR CGROUP NETNS
# DIR: an empty directory; the container's root is a tmpfs mounted on it, with
# this host's /usr under a tmpfs overlay (packages install into the overlay, the
# host's /usr is never written), a copy of the dpkg and apt state, and a minimal
# /etc. CGROUP: the name of a cgroup created below this process's own in every
# hierarchy, which holds the container (the caller removes it afterwards).
# NETNS: the network namespace (ip netns) it runs in; entered with nsenter, as
# `ip netns exec` would hide /sys/fs/cgroup behind a fresh /sys.
#
# What keeps the host safe from the container: the network namespace NETNS; its
# own PID, mount, UTS, IPC and cgroup namespaces; /proc/sys, /sys and the host's
# /usr read-only; no CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_RAWIO,
# CAP_SYSLOG, CAP_WAKE_ALARM. systemd starts tula-test.target, not the host's
# default target, so no other service of this host starts (the units that
# sysinit.target wants run when a service needs it, inside the container). Stop
# it with `systemctl poweroff` inside it (or SIGKILL to its PID 1).
#
#   systemd-container.sh --remove-cgroup CGROUP
# removes that cgroup (empty once the container stopped) from every hierarchy.
set -eu
usage() { echo "usage: $0 DIR CGROUP NETNS | --remove-cgroup CGROUP" >&2; exit 2; }
checked_name() {
  case "$1" in '' | *[!A-Za-z0-9_.-]*) echo "$0: CGROUP takes letters, digits and _ . - only" >&2; exit 2 ;; esac
}

# Prints, for each hierarchy this process is in, the directory of its cgroup.
own_cgroups() {
  while IFS=: read -r _ controllers path; do
    case "$controllers" in
      '') mount=/sys/fs/cgroup/unified; [ -d "$mount" ] || mount=/sys/fs/cgroup ;;
      name=*) mount=/sys/fs/cgroup/${controllers#name=} ;;
      *) mount=/sys/fs/cgroup/$controllers ;;
    esac
    [ ! -d "$mount$path" ] || echo "$mount${path%/}"
  done < /proc/self/cgroup
}

if [ "${1:-}" = --remove-cgroup ]; then
  [ $# = 2 ] || usage
  checked_name "$2"
  for parent in $(own_cgroups); do
    [ ! -d "$parent/$2" ] || find "$parent/$2" -depth -type d -exec rmdir {} \;
  done
  exit 0
fi
[ $# = 3 ] || usage
dir=$1 cgroup=$2 netns=$3
checked_name "$cgroup"
[ -e "/run/netns/$netns" ] || { echo "$0: no network namespace $netns" >&2; exit 2; }

# Into a cgroup of its own in each hierarchy (cgroup v1 controllers, name=systemd, v2).
for parent in $(own_cgroups); do
  mkdir -p "$parent/$cgroup"
  # A v1 cpuset takes tasks only once it has CPUs and memory nodes.
  for f in cpuset.cpus cpuset.mems; do
    [ ! -f "$parent/$f" ] || cat "$parent/$f" > "$parent/$cgroup/$f"
  done
  echo $$ > "$parent/$cgroup/cgroup.procs"
done

exec nsenter --net="/run/netns/$netns" unshare --pid --fork --mount --cgroup --uts --ipc --propagation private sh -eu -c '
R=$1
mount -t tmpfs -o mode=0755 tmpfs "$R"
mkdir -p "$R/.usr/upper" "$R/.usr/work" "$R/usr"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$R/.usr/upper,workdir=$R/.usr/work" "$R/usr"
for l in bin lib lib64 sbin; do if [ -e "/usr/$l" ]; then ln -s "usr/$l" "$R/$l"; fi; done
mkdir -p "$R/etc/systemd/system" "$R/var/lib" "$R/var/cache/apt/archives/partial" "$R/var/log" "$R/run" "$R/tmp" \
  "$R/proc" "$R/sys" "$R/dev" "$R/root"
chmod 1777 "$R/tmp"
cp -L /etc/os-release /etc/passwd /etc/group /etc/shadow /etc/hosts "$R/etc/"
cp -a /etc/apt /etc/dpkg "$R/etc/"
cp -a /var/lib/dpkg "$R/var/lib/dpkg"
rm -f "$R/var/lib/dpkg/lock" "$R/var/lib/dpkg/lock-frontend"
mkdir -p "$R/var/lib/apt/lists/partial"
: > "$R/etc/machine-id"
printf "[Unit]\nDescription=Tula test target (the host default target stays out)\n" > "$R/etc/systemd/system/tula-test.target"
mount -t proc proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"
mount -t sysfs -o ro sysfs "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ip link set lo up
exec setpriv --bounding-set -sys_time,-sys_module,-sys_boot,-sys_rawio,-syslog,-wake_alarm \
  chroot "$R" env -i container=tula-test PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  /lib/systemd/systemd --system --unit=tula-test.target
' sh "$dir"
