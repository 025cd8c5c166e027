import CaptureConfig
import CaptureProtocol
import CaptureSystem

/// Who may connect, and how many connections each may hold (`[access]`, `daemon.max_clients`,
/// `daemon.max_clients_per_uid`).
///
/// Root and the daemon's own user are counted apart and have `max_clients` connections of
/// their own, so no other user can lock the operator out; everyone else shares `max_clients`
/// and has at most `max_clients_per_uid` of them.
struct AdmissionPolicy {
    let maxClients: Int
    let maxPerUID: Int
    let allowUIDs: [UInt32]
    let allowGIDs: [UInt32]
    let ownUID: UInt32

    init(_ config: Configuration, ownUID: UInt32) {
        maxClients = config.maxClients
        maxPerUID = config.maxClientsPerUID
        allowUIDs = config.allowUIDs
        allowGIDs = config.allowGIDs
        self.ownUID = ownUID
    }

    func isPrivileged(_ peer: PeerCredentials) -> Bool { peer.uid == 0 || peer.uid == ownUID }

    enum Decision: Equatable {
        case admit
        /// The Error the peer gets, and the reason for the log.
        case refuse(ErrorCode, String, log: String)
    }

    /// `open`: the connections already held, as (uid, privileged) pairs.
    func decide(_ peer: PeerCredentials, open: [(uid: UInt32, privileged: Bool)]) -> Decision {
        if isPrivileged(peer) {
            guard open.count(where: \.privileged) < maxClients else {
                return .refuse(.tooManyClients, "root and the daemon's user have \(maxClients) connections already (daemon.max_clients)", log: "too many clients")
            }
            return .admit
        }
        guard isAllowed(peer) else {
            return .refuse(.notPermitted, "uid \(peer.uid) is not allowed by access.allow_uids / access.allow_groups", log: "not in the allow-list")
        }
        guard open.count(where: { !$0.privileged }) < maxClients else {
            return .refuse(.tooManyClients, "captured serves at most \(maxClients) clients (daemon.max_clients)", log: "too many clients")
        }
        guard open.count(where: { $0.uid == peer.uid }) < maxPerUID else {
            return .refuse(.tooManyClients, "uid \(peer.uid) has \(maxPerUID) connections already (daemon.max_clients_per_uid)", log: "too many clients of this uid")
        }
        return .admit
    }

    private func isAllowed(_ peer: PeerCredentials) -> Bool {
        if allowUIDs.isEmpty && allowGIDs.isEmpty { return true }
        if allowUIDs.contains(peer.uid) { return true }
        let groups = Set([peer.gid] + peer.groups)
        return allowGIDs.contains { groups.contains($0) }
    }
}
