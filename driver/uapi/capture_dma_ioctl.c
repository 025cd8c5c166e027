/* The ioctl request numbers as functions: Swift cannot import the _IOR/_IOW macros. */
#include "capture_dma.h"
#include "capture_dma_ioctl.h"

unsigned long capture_ioc_info(void) { return CAPTURE_IOC_INFO; }
unsigned long capture_ioc_register_ring(void) { return CAPTURE_IOC_REGISTER_RING; }
unsigned long capture_ioc_queue(void) { return CAPTURE_IOC_QUEUE; }
unsigned long capture_ioc_start(void) { return CAPTURE_IOC_START; }
unsigned long capture_ioc_stop(void) { return CAPTURE_IOC_STOP; }
unsigned long capture_ioc_stats(void) { return CAPTURE_IOC_STATS; }
unsigned long capture_ioc_unregister(void) { return CAPTURE_IOC_UNREGISTER; }
unsigned long capture_ioc_slots(void) { return CAPTURE_IOC_SLOTS; }
unsigned long capture_ioc_doorbell(void) { return CAPTURE_IOC_DOORBELL; }
unsigned long capture_ioc_holder(void) { return CAPTURE_IOC_HOLDER; }
unsigned long capture_ioc_hold(void) { return CAPTURE_IOC_HOLD; }
