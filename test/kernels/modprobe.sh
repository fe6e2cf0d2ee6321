#!/bin/sh
# /sbin/modprobe of the kernel-matrix VM. The kernel runs it to autoload a
# module (a netlink family, a qdisc, a netfilter table...). The initramfs has
# only the modules run.sh put there, already loaded, so this only reports the
# request on the console (parse.awk keeps it as a warning): a test that fails
# here but not on a real host probably needs that module added to
# DROPSPOT_KERNEL_MODULES. Exiting non-zero makes the kernel's request fail,
# as it would for a module that does not exist.
case $* in
# Mounting bpffs asks for bpf_preload, which only adds debug files there.
*bpf_preload*) exit 1 ;;
esac
echo "@@ds warn modprobe $*" >/dev/console
exit 1
