#ifndef CAPTURE_DMA_IOCTL_H
#define CAPTURE_DMA_IOCTL_H
#include "capture_dma.h"
unsigned long capture_ioc_info(void);
unsigned long capture_ioc_register_ring(void);
unsigned long capture_ioc_queue(void);
unsigned long capture_ioc_start(void);
unsigned long capture_ioc_stop(void);
unsigned long capture_ioc_stats(void);
unsigned long capture_ioc_unregister(void);
unsigned long capture_ioc_slots(void);
unsigned long capture_ioc_doorbell(void);
unsigned long capture_ioc_holder(void);
unsigned long capture_ioc_hold(void);
#endif
