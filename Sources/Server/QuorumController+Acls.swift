import KafkaProtocol
import Metadata
import NIOConcurrencyHelpers
import NIOCore

extension QuorumController {
    /// CreateAcls: decided on the committed image (ControllerDecisions.createAcls) and answered
    /// once the new ACLs are committed.
    public func createAcls(_ request: CreateAclsRequest) -> EventLoopFuture<CreateAclsResponse> {
        let decided = NIOLockedValueBox<[ControllerError?]>([])
        let creations = request.creations
        return submit { image in
            let (records, errors) = ControllerDecisions.createAcls(creations, image: image)
            decided.withLockedValue { $0 = errors }
            return .success(records)
        }.map { _ in
            var r = CreateAclsResponse()
            r.results = decided.withLockedValue { $0 }.map { e in
                var one = CreateAclsResponse.Result()
                one.errorCode = e?.code.rawValue ?? 0
                one.errorMessage = e?.message
                return one
            }
            return r
        }.flatMapErrorThrowing { error in
            let e = ControllerError(from: error)
            return CreateAclsResponse.failing(creations.count, e.code, e.message)
        }
    }

    /// DeleteAcls: every ACL a filter matches on the committed image is removed; each filter's
    /// answer lists what it matched.
    public func deleteAcls(_ request: DeleteAclsRequest) -> EventLoopFuture<DeleteAclsResponse> {
        let decided = NIOLockedValueBox<[Result<[AclEntry], ControllerError>]>([])
        let filters = request.filters
        return submit { image in
            let (records, results) = ControllerDecisions.deleteAcls(filters, image: image)
            decided.withLockedValue { $0 = results }
            return .success(records)
        }.map { _ in
            var r = DeleteAclsResponse()
            r.filterResults = decided.withLockedValue { $0 }.map { result in
                var f = DeleteAclsResponse.FilterResult()
                switch result {
                case .success(let matched):
                    f.matchingAcls = matched.map {
                        var m = DeleteAclsResponse.Matching()
                        m.acl = $0
                        return m
                    }
                case .failure(let e):
                    f.errorCode = e.code.rawValue
                    f.errorMessage = e.message
                }
                return f
            }
            return r
        }.flatMapErrorThrowing { error in
            let e = ControllerError(from: error)
            return DeleteAclsResponse.failing(filters.count, e.code, e.message)
        }
    }
}
