(deffunction clamp (?x) (if (> ?x 10) then (return 10)) ?x)
(defmodule MAIN (export ?ALL))
(defmodule A (import MAIN ?ALL))
(defrule MAIN::start => (focus A) (printout t "focus A" crlf))
(defrule A::first (declare (salience 10)) => (printout t "clamp " (clamp 50) crlf))
(defrule A::second => (printout t "second rule in A" crlf))
(defrule MAIN::back (declare (salience -10)) => (printout t "back in MAIN" crlf))
;;; script
(run)
