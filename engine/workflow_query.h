/* engine/workflow_query.h — the worker side of queries: the answers to the
 * queries that come with a workflow task (sent in the completion's
 * query_results), and the request that answers a legacy query task
 * (RespondQueryTaskCompleted). The run answers each query itself
 * (twe__run_answer_query, engine/workflow/queries.c); this turns its
 * answers into the messages the server wants.
 *
 * Thread: the shard thread of the run. */
#ifndef TWE_ENGINE_WORKFLOW_QUERY_H
#define TWE_ENGINE_WORKFLOW_QUERY_H
#include <stddef.h>
#include "engine/workflow/run.h"
#include "proto/arena.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

typedef Temporal__Api__Workflowservice__V1__RespondWorkflowTaskCompletedRequest__QueryResultsEntry
    twe__query_result_entry_t;

/* Answers the queries of task t (its `queries` map) from run, in a (the
 * task's arena): entries for the completion in *out, *n of them. Returns 0,
 * or a fatal status of the run (it is unusable: the task must fail). */
int twe__query_answer_task_queries(
    twe_run_t *run, const Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse *t,
    twe_arena_t *a, twe__query_result_entry_t ***out, size_t *n);

/* The RespondQueryTaskCompleted for legacy query task t: answered from run,
 * or failed with why when run is NULL (its history could not be replayed:
 * why says so). In a. Returns the request, or NULL when out of memory.
 * *fatal is set when answering made the run unusable (drop it). */
Temporal__Api__Workflowservice__V1__RespondQueryTaskCompletedRequest *twe__query_answer_legacy(
    twe_run_t *run, const char *why,
    const Temporal__Api__Workflowservice__V1__PollWorkflowTaskQueueResponse *t,
    const char *namespace_name, twe_arena_t *a, bool *fatal);

#endif /* TWE_ENGINE_WORKFLOW_QUERY_H */
