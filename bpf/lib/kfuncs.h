/* Kernel functions (kfuncs) the programs call. */
#pragma once

/* The real sk_buff behind a __sk_buff context (6.2+), so socket and tc
 * programs parse and key packets exactly as the tracing hooks do. */
extern void *bpf_cast_to_kern_ctx(void *) __ksym;
