(deftemplate limit (slot n))
(defrule count-up (limit (n ?n)) =>
  (bind ?i 1)
  (while TRUE do
    (if (> ?i ?n) then (break))
    (assert (num ?i))
    (bind ?i (+ ?i 1)))
  (printout t "done " ?i crlf))
(defrule evens (num ?x&:(evenp ?x)) => (printout t "even " ?x crlf))
;;; script
(assert (limit (n 5)))
(run)
