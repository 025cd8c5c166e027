/// Fixed journald MESSAGE_IDs of captured's lifecycle events (README lists them), so operators
/// can `journalctl MESSAGE_ID=…` for one kind of event across restarts and machines.
public enum MessageID {
    public static let daemonReady = "65abc006d7ac4ad0ba02c48f6150d450"
    public static let daemonStopping = "00edbde155aa468aa9b1cbe1aa2db5e1"
    public static let streamAttached = "a09bfae0f278427ca7bf41379d1d6939"
    public static let streamDetached = "2ca7e17a339f4ffeabb0130d8efb420e"
    public static let clientConnected = "0d8cbe1dc0b64ea3aba34e7b7f8ceb06"
    public static let clientDisconnected = "aab80db6fb1b4c10b47a8046c9071808"
    public static let clientEvicted = "16e9225963744adc846e0982402c3840"
    public static let framesDropped = "10fc28e67af34d95ad7f57c79d741272"
    public static let leasesRevoked = "44c61c4626dc43b6ba205167febaf201"
    public static let residencyFault = "5424887a16374ca38c05c7d5a66a3bca"
    public static let watchdogLate = "e624ae74a39a4b45b703445995182361"
}
