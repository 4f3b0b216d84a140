// service.go — the WorkflowService calls a worker makes (twe's
// bench_worker and the Go SDK peer, start to stop): GetSystemInfo and
// DescribeNamespace at start, the two polls and their responds,
// RecordActivityTaskHeartbeat, GetWorkflowExecutionHistory (a worker whose
// cache lost a run), ShutdownWorker at stop; and the gRPC health check the
// Go SDK's client makes when it dials. Every other method answers
// UNIMPLEMENTED, and the interceptor counts calls by method and those
// UNIMPLEMENTED answers (they go into the results).
package main

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

type service struct {
	workflowservice.UnimplementedWorkflowServiceServer
	f           *firehose
	pollTimeout time.Duration // an idle poll is answered empty after this
}

// countCalls is the unary interceptor: calls by method, UNIMPLEMENTED ones.
func countCalls(st *stats) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo,
		h grpc.UnaryHandler) (interface{}, error) {
		resp, err := h(ctx, req)
		st.call(info.FullMethod, status.Code(err))
		return resp, err
	}
}

// unknownService answers (and counts) calls to services not registered.
func unknownService(st *stats) grpc.StreamHandler {
	return func(srv interface{}, stream grpc.ServerStream) error {
		m, _ := grpc.MethodFromServerStream(stream)
		st.call(m, codes.Unimplemented)
		return status.Errorf(codes.Unimplemented, "firehose: %s is not served", m)
	}
}

func (s *service) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (
	*workflowservice.GetSystemInfoResponse, error) {
	// The capabilities server 1.29 announces (Nexus off, as on a dev server
	// without its HTTP port).
	return &workflowservice.GetSystemInfoResponse{
		ServerVersion: "1.29.1",
		Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{
			SignalAndQueryHeader: true, InternalErrorDifferentiation: true,
			ActivityFailureIncludeHeartbeat: true, SupportsSchedules: true,
			EncodedFailureAttributes: true, UpsertMemo: true, EagerWorkflowStart: true,
			SdkMetadata: true, BuildIdBasedVersioning: true, CountGroupByExecutionStatus: true,
		},
	}, nil
}

func (s *service) DescribeNamespace(_ context.Context, req *workflowservice.DescribeNamespaceRequest) (
	*workflowservice.DescribeNamespaceResponse, error) {
	if req.GetNamespace() != s.f.namespace {
		return nil, serviceerror.NewNamespaceNotFound(req.GetNamespace())
	}
	return &workflowservice.DescribeNamespaceResponse{
		NamespaceInfo: &namespacepb.NamespaceInfo{
			Name: s.f.namespace, Id: "00000000-0000-4000-8000-000000000001",
			State: enumspb.NAMESPACE_STATE_REGISTERED,
			Capabilities: &namespacepb.NamespaceInfo_Capabilities{
				EagerWorkflowStart: true, SyncUpdate: true, AsyncUpdate: true,
			},
		},
		Config: &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(24 * time.Hour)},
	}, nil
}

// pollWait is how long a poll may wait: the firehose's poll timeout, or
// less if the caller's deadline is nearer (answered 1 s before it).
func (s *service) pollWait(ctx context.Context) time.Duration {
	w := s.pollTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - time.Second; left < w {
			w = left
		}
	}
	if w < 0 {
		w = 0
	}
	return w
}

func (s *service) PollWorkflowTaskQueue(ctx context.Context, req *workflowservice.PollWorkflowTaskQueueRequest) (
	*workflowservice.PollWorkflowTaskQueueResponse, error) {
	f := s.f
	tq := req.GetTaskQueue()
	f.mu.Lock()
	var q *wfQueue
	if tq.GetKind() == enumspb.TASK_QUEUE_KIND_STICKY {
		q = f.sticky[tq.GetName()]
		if q == nil {
			q = &wfQueue{name: tq.GetName(), sticky: true}
			f.sticky[q.name] = q
		}
	} else if tq.GetName() == f.queue {
		q = f.normal
	}
	if q != nil {
		if t := f.takeWFT(q, req.GetIdentity()); t != nil {
			f.mu.Unlock()
			return t, nil
		}
	}
	w := &wfWaiter{ch: make(chan *workflowservice.PollWorkflowTaskQueueResponse, 1), identity: req.GetIdentity()}
	if q != nil {
		q.waiters = append(q.waiters, w)
	}
	f.mu.Unlock()
	timer := time.NewTimer(s.pollWait(ctx))
	defer timer.Stop()
	select {
	case t := <-w.ch:
		return t, nil
	case <-ctx.Done():
	case <-timer.C:
	}
	// Gone or timed out: leave the queue, or put back a task that came in
	// the meantime (it was never sent).
	f.mu.Lock()
	defer f.mu.Unlock()
	if q != nil {
		for i, x := range q.waiters {
			if x == w {
				q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
				break
			}
		}
	}
	select {
	case t := <-w.ch:
		if ctx.Err() == nil {
			return t, nil
		}
		f.unstartWFT(t, q)
	default:
	}
	if ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &workflowservice.PollWorkflowTaskQueueResponse{}, nil
}

func (s *service) RespondWorkflowTaskCompleted(_ context.Context, req *workflowservice.RespondWorkflowTaskCompletedRequest) (
	*workflowservice.RespondWorkflowTaskCompletedResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	resp, ok := s.f.completeWFT(req)
	if !ok {
		return nil, serviceerror.NewNotFound("Workflow task not found.")
	}
	return resp, nil
}

func (s *service) RespondWorkflowTaskFailed(_ context.Context, req *workflowservice.RespondWorkflowTaskFailedRequest) (
	*workflowservice.RespondWorkflowTaskFailedResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if !s.f.failWFT(req) {
		return nil, serviceerror.NewNotFound("Workflow task not found.")
	}
	return &workflowservice.RespondWorkflowTaskFailedResponse{}, nil
}

func (s *service) PollActivityTaskQueue(ctx context.Context, req *workflowservice.PollActivityTaskQueueRequest) (
	*workflowservice.PollActivityTaskQueueResponse, error) {
	f := s.f
	ours := req.GetTaskQueue().GetName() == f.queue
	f.mu.Lock()
	if ours {
		if t := f.takeActivity(req.GetIdentity()); t != nil {
			f.mu.Unlock()
			return t, nil
		}
	}
	w := &actWaiter{ch: make(chan *workflowservice.PollActivityTaskQueueResponse, 1), identity: req.GetIdentity()}
	if ours {
		f.actWaiters = append(f.actWaiters, w)
	}
	f.mu.Unlock()
	timer := time.NewTimer(s.pollWait(ctx))
	defer timer.Stop()
	select {
	case t := <-w.ch:
		return t, nil
	case <-ctx.Done():
	case <-timer.C:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.actWaiters {
		if x == w {
			f.actWaiters = append(f.actWaiters[:i], f.actWaiters[i+1:]...)
			break
		}
	}
	select {
	case t := <-w.ch:
		if ctx.Err() == nil {
			return t, nil
		}
		f.unstartActivity(t)
	default:
	}
	if ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &workflowservice.PollActivityTaskQueueResponse{}, nil
}

func (s *service) RespondActivityTaskCompleted(_ context.Context, req *workflowservice.RespondActivityTaskCompletedRequest) (
	*workflowservice.RespondActivityTaskCompletedResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if !s.f.completeActivity(req.GetTaskToken(), req.GetResult(), req.GetIdentity()) {
		return nil, serviceerror.NewNotFound("activity task not found")
	}
	return &workflowservice.RespondActivityTaskCompletedResponse{}, nil
}

func (s *service) RespondActivityTaskFailed(_ context.Context, req *workflowservice.RespondActivityTaskFailedRequest) (
	*workflowservice.RespondActivityTaskFailedResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if !s.f.failActivity(req.GetTaskToken(), "failed", req.GetFailure().GetMessage()) {
		return nil, serviceerror.NewNotFound("activity task not found")
	}
	return &workflowservice.RespondActivityTaskFailedResponse{}, nil
}

func (s *service) RespondActivityTaskCanceled(_ context.Context, req *workflowservice.RespondActivityTaskCanceledRequest) (
	*workflowservice.RespondActivityTaskCanceledResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if !s.f.failActivity(req.GetTaskToken(), "canceled", "") {
		return nil, serviceerror.NewNotFound("activity task not found")
	}
	return &workflowservice.RespondActivityTaskCanceledResponse{}, nil
}

func (s *service) RecordActivityTaskHeartbeat(_ context.Context, req *workflowservice.RecordActivityTaskHeartbeatRequest) (
	*workflowservice.RecordActivityTaskHeartbeatResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if r, _, _ := s.f.lookupActivity(req.GetTaskToken()); r == nil {
		return nil, serviceerror.NewNotFound("activity task not found")
	}
	return &workflowservice.RecordActivityTaskHeartbeatResponse{}, nil
}

func (s *service) GetWorkflowExecutionHistory(_ context.Context, req *workflowservice.GetWorkflowExecutionHistoryRequest) (
	*workflowservice.GetWorkflowExecutionHistoryResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if req.GetWaitNewEvent() || req.GetHistoryEventFilterType() == enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT {
		return nil, status.Error(codes.Unimplemented, "firehose: only a run's whole history is served")
	}
	h := s.f.history(req.GetExecution().GetWorkflowId(), req.GetExecution().GetRunId())
	if h == nil {
		return nil, serviceerror.NewNotFound("workflow execution not found")
	}
	s.f.st.historyFetches++
	return &workflowservice.GetWorkflowExecutionHistoryResponse{History: h}, nil
}

func (s *service) ShutdownWorker(_ context.Context, req *workflowservice.ShutdownWorkerRequest) (
	*workflowservice.ShutdownWorkerResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.shutdownWorker(req.GetStickyTaskQueue())
	return &workflowservice.ShutdownWorkerResponse{}, nil
}
