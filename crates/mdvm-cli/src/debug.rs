//! `mdvm debug`: an interactive debugger on the interpreter tier, with gdb's commands and
//! aliases.
//!
//! The program's output goes to stdout exactly as under `mdvm run`; the debugger's prompt,
//! answers and messages go to stderr (the prompt of the line editor to the terminal). Commands
//! come from the line editor when stdin is a terminal, else from stdin (or `--commands FILE`)
//! one per line, each echoed after the prompt so that a transcript reads as a session.
//! The end of the commands quits, as `quit` does.
//!
//! Positions are instruction indices of the module's stream, as `mdvm dis` prints them and
//! runtime errors name them.

use std::cell::RefCell;
use std::io::{self, BufRead, IsTerminal, Write};
use std::rc::Rc;

use mdvm::{DebugStop, Debugger, FrameView, ProcessState, Resume, StopReason, Value, Vm};

/// The help text of `help`.
const HELP: &str = "\
commands (aliases in brackets):
  break FUNCTION[:PC]  [b]    stop before instruction PC of FUNCTION (default: its first)
  delete N             [d]    remove breakpoint N
  run                  [r]    start the program (again, from the start, when it ended)
  continue             [c]    run until a breakpoint, a watch or the end
  step                 [s]    execute one instruction, entering calls
  next                 [n]    execute one instruction, running calls to their end
  finish               [fin]  run until the current function returns
  backtrace            [bt]   the frames, innermost first: function and instruction (of the
                              stopped process, when the program has processes)
  frame N              [f]    select frame N of the backtrace for print, registers and list
  registers            [regs] the registers of the selected frame, with values and types
  print rN             [p]    register N of the selected frame
  list                 [l]    the disassembly around the current instruction, marked =>
  watch rN                    stop when register N of the current frame changes
  stats                       instructions executed and calls per function so far
  info breakpoints     [i b]  the breakpoints
  info processes       [i p]  the live processes: pid, state, where each goes on, its mailbox
  quit                 [q]    end the program and the debugger
  help                 [h]    this text";

/// Where commands come from.
enum Input {
    /// An interactive terminal, through the line editor (history in memory).
    Editor(Box<rustyline::DefaultEditor>),
    /// Lines of a pipe or file.
    Lines(Box<dyn BufRead>),
}

impl Input {
    /// The next command line, or `None` at the end of the input.
    fn read(&mut self, prompt: &str) -> Option<String> {
        match self {
            Input::Editor(ed) => match ed.readline(prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = ed.add_history_entry(line.as_str());
                    }
                    Some(line)
                }
                // Ctrl-C on an empty line: an empty command, as in gdb.
                Err(rustyline::error::ReadlineError::Interrupted) => Some(String::new()),
                Err(_) => None,
            },
            Input::Lines(r) => {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => {
                        let line = line.trim_end_matches(['\n', '\r']).to_string();
                        eprintln!("{prompt}{line}");
                        Some(line)
                    }
                }
            }
        }
    }
}

/// The debugger's state, shared by the command loop and the machine's stop hook.
struct Session {
    input: Input,
    /// Breakpoints by number (from 1): function body and instruction; `None` once deleted.
    breakpoints: Vec<Option<(u32, u32)>>,
    /// Function names, first instruction and count, by body.
    functions: Vec<(String, u32, u32)>,
    /// Disassembly text by instruction index ([`mdvm::instruction_texts`]).
    listing: Vec<String>,
    /// The program's output, flushed at every stop so that it reads in order.
    out: Box<dyn FnMut()>,
    /// Set by `quit`.
    quit: bool,
}

/// What a command asks of the command loop.
enum Action {
    /// Read the next command.
    Stay,
    /// Go on running (or start the program).
    Resume(Resume),
}

impl Session {
    /// Resolves `FUNCTION[:PC]` to (body, instruction).
    fn location(&self, spec: &str) -> Result<(u32, u32), String> {
        let (name, pc) = match spec.rsplit_once(':') {
            Some((n, p)) => (n, Some(p.parse::<u32>().map_err(|_| format!("not an instruction index: {p:?}"))?)),
            None => (spec, None),
        };
        let body = self
            .functions
            .iter()
            .position(|(n, _, _)| n == name)
            .ok_or_else(|| format!("no function `{name}` (the main program is `{}`)", self.functions[0].0))?;
        let (_, start, _) = &self.functions[body];
        Ok((body as u32, pc.unwrap_or(*start)))
    }

    /// `FUNCTION:PC` of a location.
    fn describe(&self, (body, pc): (u32, u32)) -> String {
        format!("{}:{pc}", self.functions[body as usize].0)
    }

    /// The instruction's text (disassembly), trimmed.
    fn instruction(&self, pc: u32) -> &str {
        self.listing.get(pc as usize).map(String::as_str).unwrap_or("?")
    }

    /// Runs the commands that need no running program: break, delete, info, help. Returns
    /// `None` for a command it does not know.
    fn common(&mut self, cmd: &str, arg: &str, state: &mut mdvm::DebugState) -> Option<()> {
        match cmd {
            "break" | "b" | "br" => {
                if arg.is_empty() {
                    eprintln!("usage: break FUNCTION[:PC]");
                    return Some(());
                }
                match self.location(arg).and_then(|(b, pc)| state.set_breakpoint(b, pc).map(|()| (b, pc))) {
                    Ok(loc) => {
                        self.breakpoints.push(Some(loc));
                        eprintln!("Breakpoint {} at {}: {}", self.breakpoints.len(), self.describe(loc), self.instruction(loc.1));
                    }
                    Err(e) => eprintln!("{e}"),
                }
            }
            "delete" | "d" => match arg.parse::<usize>().ok().and_then(|n| Some((n, self.breakpoints.get(n.checked_sub(1)?)?.as_ref()?))) {
                Some((n, &(b, pc))) => {
                    let _ = state.clear_breakpoint(b, pc);
                    self.breakpoints[n - 1] = None;
                    eprintln!("Deleted breakpoint {n}");
                }
                None => eprintln!("no breakpoint {arg:?}"),
            },
            "info" | "i" if matches!(arg, "breakpoints" | "b" | "break") => {
                let mut any = false;
                for (i, loc) in self.breakpoints.iter().enumerate() {
                    if let Some(loc) = loc {
                        eprintln!("{}  {}: {}", i + 1, self.describe(*loc), self.instruction(loc.1));
                        any = true;
                    }
                }
                if !any {
                    eprintln!("No breakpoints.");
                }
            }
            "help" | "h" => eprintln!("{HELP}"),
            "" => {}
            _ => return None,
        }
        Some(())
    }

    /// Serves commands at a stop until one resumes the run.
    fn at_stop(&mut self, stop: &mut DebugStop<'_>) -> Resume {
        (self.out)();
        let (body, pc, _, _) = stop.current();
        // With processes, where names the process too.
        let at = match stop.program.uses_processes() {
            true => format!("{} in process {}", self.describe((body, pc)), stop.process),
            false => self.describe((body, pc)),
        };
        match &stop.reason {
            StopReason::Breakpoint => {
                let n = self.breakpoints.iter().position(|b| *b == Some((body, pc))).map_or(0, |i| i + 1);
                eprintln!("Breakpoint {n}, {at}");
            }
            StopReason::BreakpointInstruction => eprintln!("BREAKPOINT instruction, {at}"),
            StopReason::Step => eprintln!("{at}"),
            StopReason::Watch { reg, old, new } => eprintln!("Watch r{reg}: {} -> {}, {at}", show(old), show(new)),
            StopReason::WatchEnded { reg } => eprintln!("Watch r{reg} deleted: its frame returned; {at}"),
        }
        eprintln!("=> {pc}  {}", self.instruction(pc));
        // The selected frame, as an index into `stop.frames`.
        let mut selected = stop.frames.len() - 1;
        loop {
            let Some(line) = self.input.read("(mdvm) ") else {
                self.quit = true;
                return Resume::Quit;
            };
            let (cmd, arg) = split(&line);
            if self.common(cmd, arg, stop.state).is_some() {
                continue;
            }
            let action = match cmd {
                "continue" | "c" => Action::Resume(Resume::Continue),
                "step" | "s" | "stepi" | "si" => Action::Resume(Resume::Step),
                "next" | "n" | "nexti" | "ni" => Action::Resume(Resume::Next),
                "finish" | "fin" => Action::Resume(Resume::Finish),
                "quit" | "q" => {
                    self.quit = true;
                    Action::Resume(Resume::Quit)
                }
                "run" | "r" => {
                    eprintln!("The program is running: `continue` goes on, `quit` ends it.");
                    Action::Stay
                }
                "backtrace" | "bt" | "where" => {
                    self.backtrace(stop);
                    Action::Stay
                }
                "frame" | "f" => {
                    let rows = rows(stop);
                    match arg.parse::<usize>().ok().and_then(|n| rows.get(n).map(|r| (n, *r))) {
                        Some((_, Some(i))) => {
                            selected = i;
                            self.print_frame(stop, arg.parse().unwrap_or(0), i);
                        }
                        Some((_, None)) => eprintln!("frame {arg} runs compiled code: its registers are not visible"),
                        None => eprintln!("no frame {arg:?} (see `backtrace`)"),
                    }
                    Action::Stay
                }
                "info" | "i" if matches!(arg, "processes" | "p") => {
                    self.processes(stop);
                    Action::Stay
                }
                "registers" | "regs" | "info" if cmd != "info" || matches!(arg, "registers" | "r") => {
                    let nregs = match stop.frames[selected] {
                        FrameView::Interpreted { nregs, .. } => nregs,
                        FrameView::Compiled { .. } => 0,
                    };
                    for r in 0..nregs.min(256) {
                        if let Some(v) = stop.register(selected, r as u8) {
                            eprintln!("r{r} = {}", typed(v));
                        }
                    }
                    Action::Stay
                }
                "print" | "p" => {
                    match arg.strip_prefix('r').and_then(|n| n.parse::<u8>().ok()) {
                        Some(r) => match stop.register(selected, r) {
                            Some(v) => eprintln!("r{r} = {}", typed(v)),
                            None => eprintln!("r{r} is not a register of this frame"),
                        },
                        None => eprintln!("usage: print rN"),
                    }
                    Action::Stay
                }
                "list" | "l" => {
                    if let FrameView::Interpreted { body, pc, .. } = stop.frames[selected] {
                        let (_, start, n) = &self.functions[body as usize];
                        let lo = pc.saturating_sub(5).max(*start);
                        let hi = (pc + 6).min(start + n);
                        for i in lo..hi {
                            let mark = if i == pc { "=>" } else { "  " };
                            eprintln!("{mark} {i:>5}  {}", self.instruction(i));
                        }
                    }
                    Action::Stay
                }
                "watch" => {
                    match arg.strip_prefix('r').and_then(|n| n.parse::<u8>().ok()) {
                        Some(r) => match stop.watch(r) {
                            Ok(()) => eprintln!("Watching r{r} of {} (now {})", self.functions[body as usize].0, show(stop.register(stop.frames.len() - 1, r).unwrap_or(&Value::Empty))),
                            Err(e) => eprintln!("{e}"),
                        },
                        None => eprintln!("usage: watch rN"),
                    }
                    Action::Stay
                }
                "stats" => {
                    eprintln!("instructions executed: {}", stop.instructions);
                    eprintln!("calls per function:");
                    for ((name, _, _), n) in self.functions.iter().zip(stop.call_counts) {
                        eprintln!("  {name}: {n}");
                    }
                    Action::Stay
                }
                _ => {
                    eprintln!("unknown command {cmd:?} (`help` lists them)");
                    Action::Stay
                }
            };
            if let Action::Resume(r) = action {
                return r;
            }
        }
    }

    /// `backtrace`: frames innermost first, numbered as `frame` takes them.
    fn backtrace(&self, stop: &DebugStop<'_>) {
        if stop.program.uses_processes() {
            eprintln!("process {}:", stop.process);
        }
        for (n, f) in stop.frames.iter().rev().enumerate() {
            match *f {
                FrameView::Interpreted { body, pc, .. } => {
                    eprintln!("#{n}  {} at {pc}: {}", self.functions[body as usize].0, self.instruction(pc))
                }
                FrameView::Compiled { count } => {
                    eprintln!("#{n}  ({count} frame{} running compiled code)", if count == 1 { "" } else { "s" })
                }
            }
        }
    }

    /// `info processes`: each live process, the stopped one marked `*`: pid, what it does,
    /// where it goes on, its mailbox.
    fn processes(&self, stop: &DebugStop<'_>) {
        if stop.processes.is_empty() {
            eprintln!("The program has no processes (it does not use `spawn`).");
            return;
        }
        let (body, pc, _, _) = stop.current();
        for p in &stop.processes {
            let (mark, state) = match p.state {
                ProcessState::Running => ("*", "running".to_string()),
                ProcessState::Runnable => (" ", "runnable".to_string()),
                ProcessState::Receiving => (" ", "blocked in receive".to_string()),
                ProcessState::Waiting(q) => (" ", format!("blocked in wait for {q}")),
            };
            let at = match p.at {
                None => self.describe((body, pc)),
                Some((b, Some(at))) => self.describe((b, at)),
                Some((b, None)) => format!("{} (not started)", self.functions[b as usize].0),
            };
            let n = p.mailbox;
            eprintln!("{mark} {:<4} {state:<22} {at}, {n} message{} waiting", p.pid, if n == 1 { "" } else { "s" });
        }
    }

    fn print_frame(&self, stop: &DebugStop<'_>, n: usize, i: usize) {
        if let FrameView::Interpreted { body, pc, .. } = stop.frames[i] {
            eprintln!("#{n}  {} at {pc}: {}", self.functions[body as usize].0, self.instruction(pc));
        }
    }
}

/// Backtrace row numbers (innermost 0) to indices into `stop.frames`: `None` for a row of
/// compiled frames.
fn rows(stop: &DebugStop<'_>) -> Vec<Option<usize>> {
    (0..stop.frames.len())
        .rev()
        .map(|i| matches!(stop.frames[i], FrameView::Interpreted { .. }).then_some(i))
        .collect()
}

/// A command line as (command, rest).
fn split(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    }
}

/// A value for the debugger: strings quoted, long texts cut.
fn show(v: &Value) -> String {
    match v {
        Value::Str(_) | Value::Url(_) => match v.display_string_within(400) {
            Some(s) => format!("{s:?}"),
            None => "(a text too long to show)".to_string(),
        },
        v => v.display_string_within(400).unwrap_or_else(|| format!("(a {} too long to show)", v.type_name())),
    }
}

/// A value with its type: `10 (int)`.
fn typed(v: &Value) -> String {
    format!("{} ({})", show(v), v.type_name())
}

/// The machine's stop hook: hands each stop to the session.
struct Hook(Rc<RefCell<Session>>);

impl Debugger for Hook {
    fn stop(&mut self, stop: &mut DebugStop<'_>) -> Resume {
        self.0.borrow_mut().at_stop(stop)
    }
}

/// Runs the debugger on `vm` (built with a debugger-friendly configuration by the caller),
/// the program's output going to `out` (flushed at each stop by `flush`). Commands come from
/// `commands` when given, else from stdin. Returns the exit status: that of the last run
/// (1 if it failed), 0 when the session quit or never ran the program.
pub fn session(mut vm: Vm, out: &mut dyn Write, flush: Box<dyn FnMut()>, commands: Option<Box<dyn BufRead>>) -> u8 {
    let input = match commands {
        Some(c) => Input::Lines(c),
        None if io::stdin().is_terminal() => {
            let config = rustyline::Config::builder().behavior(rustyline::config::Behavior::PreferTerm).build();
            match rustyline::DefaultEditor::with_config(config) {
                Ok(ed) => Input::Editor(Box::new(ed)),
                Err(_) => Input::Lines(Box::new(io::BufReader::new(io::stdin()))),
            }
        }
        None => Input::Lines(Box::new(io::BufReader::new(io::stdin()))),
    };
    let functions: Vec<(String, u32, u32)> =
        vm.program().bodies.iter().map(|b| (b.name.to_string(), b.bc_start, b.code_end - b.code_start)).collect();
    let session = Rc::new(RefCell::new(Session {
        input,
        breakpoints: Vec::new(),
        functions,
        listing: mdvm::instruction_texts(vm.module()),
        out: flush,
        quit: false,
    }));
    vm.set_debugger(Hook(session.clone()));
    eprintln!(
        "mdvm debug: {} functions, {} instructions; `run` starts the program, `help` lists the commands.",
        session.borrow().functions.len(),
        vm.module().code.len()
    );
    let mut status = 0u8;
    let mut ran = false;
    loop {
        let line = session.borrow_mut().input.read("(mdvm) ");
        let Some(line) = line else { break };
        let (cmd, arg) = split(&line);
        let known = {
            let mut s = session.borrow_mut();
            match vm.debug_state() {
                Some(state) => s.common(cmd, arg, state),
                None => None,
            }
        };
        if known.is_some() {
            continue;
        }
        match cmd {
            "continue" | "c" => eprintln!("The program is not running (`run` starts it)."),
            "run" | "r" => {
                if ran {
                    vm.reset();
                }
                ran = true;
                let r = vm.run(out);
                if session.borrow().quit {
                    return 0;
                }
                status = match r {
                    Ok(v) => {
                        match v {
                            Value::Empty => eprintln!("The program ended."),
                            v => eprintln!("The program ended, returning {}.", typed(&v)),
                        }
                        0
                    }
                    Err(e) => {
                        eprintln!("The program failed: {e}");
                        1
                    }
                };
            }
            "quit" | "q" => return if ran { status } else { 0 },
            "stats" => eprint!("{}", vm.stats()),
            "step" | "s" | "next" | "n" | "finish" | "fin" | "backtrace" | "bt" | "where" | "registers" | "regs" | "print" | "p"
            | "list" | "l" | "watch" | "frame" | "f" => eprintln!("The program is not running (`run` starts it)."),
            _ => eprintln!("unknown command {cmd:?} (`help` lists them)"),
        }
    }
    status
}
