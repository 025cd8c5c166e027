#if canImport(Glibc)
import Glibc
#endif
import CaptureSystem
import CSystemd

/// Follows udev add/remove events of the `capture` subsystem (libudev, netlink "udev" group:
/// events arrive after udev's rules ran, so the node already has its group and mode).
final class DeviceMonitor {
    enum Action: String { case add, remove }
    private let udev: OpaquePointer
    private let monitor: OpaquePointer
    /// A duplicate of the monitor's netlink socket, for epoll (libudev owns the original).
    let fd: FileDescriptor

    /// nil (with the reason) where udev is not running or netlink is not allowed.
    static func open() -> (DeviceMonitor?, String?) {
        // Without udevd nobody would announce a device we wait for.
        guard access("/run/udev/control", F_OK) == 0 else { return (nil, "udevd is not running") }
        guard let udev = udev_new() else { return (nil, "udev_new failed") }
        guard let monitor = udev_monitor_new_from_netlink(udev, "udev") else {
            udev_unref(udev)
            return (nil, "udev_monitor_new_from_netlink failed (no udevd, or AF_NETLINK not allowed)")
        }
        if udev_monitor_filter_add_match_subsystem_devtype(monitor, "capture", nil) < 0 || udev_monitor_enable_receiving(monitor) < 0 {
            udev_monitor_unref(monitor)
            udev_unref(udev)
            return (nil, "udev_monitor_enable_receiving failed")
        }
        return (DeviceMonitor(udev: udev, monitor: monitor), nil)
    }

    private init(udev: OpaquePointer, monitor: OpaquePointer) {
        self.udev = udev
        self.monitor = monitor
        fd = FileDescriptor(owning: fcntl(udev_monitor_get_fd(monitor), F_DUPFD_CLOEXEC, 0))
        try? fd.setNonBlocking() // the same open file description as libudev's: reads never block
    }

    /// Pending events: (action, device node).
    func drain() -> [(Action, String)] {
        var events: [(Action, String)] = []
        while let device = udev_monitor_receive_device(monitor) {
            defer { udev_device_unref(device) }
            guard let a = udev_device_get_action(device), let action = Action(rawValue: String(cString: a)),
                  let node = udev_device_get_devnode(device) else { continue }
            events.append((action, String(cString: node)))
        }
        return events
    }

    deinit {
        udev_monitor_unref(monitor)
        udev_unref(udev)
    }
}
