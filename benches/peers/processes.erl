%% The BEAM peers of bench-processes: the same algorithms as pingpong.mdasm,
%% spawn_many.mdasm, ring_token.mdasm and idle_memory.mdasm. Run as
%% `escript processes.erl NAME SIZE...`; prints the result, then `us=` and the
%% microseconds of the work alone (start-up excluded), or the bytes per idle process.
-module(processes).
-export([main/1]).
-mode(compile).

main(["pingpong", N]) -> timed(fun() -> pingpong(list_to_integer(N)) end);
main(["spawn_many", N]) -> timed(fun() -> spawn_many(list_to_integer(N)) end);
main(["ring_token", M, T]) -> timed(fun() -> ring_token(list_to_integer(M), list_to_integer(T)) end);
main(["idle_memory", N]) -> idle_memory(list_to_integer(N)).

timed(F) ->
    T0 = erlang:monotonic_time(microsecond),
    R = F(),
    T1 = erlang:monotonic_time(microsecond),
    io:format("~p~nus=~p~n", [R, T1 - T0]).

pingpong(N) ->
    Main = self(),
    P = spawn(fun() -> ponger(Main) end),
    ping(P, 0, N, 0).
ping(_, I, N, Last) when I >= N -> Last;
ping(P, I, N, _) ->
    P ! I + 1,
    receive V -> ping(P, I + 1, N, V) end.
ponger(Main) ->
    receive V -> Main ! V, ponger(Main) end.

spawn_many(N) ->
    Main = self(),
    [spawn(fun() -> Main ! 1 end) || _ <- lists:seq(1, N)],
    collect(N, 0).
collect(0, S) -> S;
collect(K, S) -> receive V -> collect(K - 1, S + V) end.

ring_token(M, T) ->
    Main = self(),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_node(Next) end) end, Main, lists:seq(1, M)),
    First ! T,
    relay(First).
relay(First) ->
    receive
        V when V =< 0 -> V;
        V -> First ! V - 1, relay(First)
    end.
ring_node(Next) ->
    receive V -> Next ! V - 1, ring_node(Next) end.

idle_memory(N) ->
    erlang:garbage_collect(),
    M0 = erlang:memory(processes),
    Ps = [spawn(fun() -> receive _ -> ok end end) || _ <- lists:seq(1, N)],
    M1 = erlang:memory(processes),
    io:format("~p~n", [(M1 - M0) div N]),
    [P ! stop || P <- Ps],
    ok.
