/* The kernel's types for the architecture being compiled: bpf2go defines
 * __TARGET_ARCH_<arch> per -target. How each header was made: README.md. */
#if defined(__TARGET_ARCH_x86)
#include "x86/vmlinux.h"
#elif defined(__TARGET_ARCH_arm64)
#include "arm64/vmlinux.h"
#else
#error "no vmlinux.h for this architecture: see bpf/include/README.md"
#endif
