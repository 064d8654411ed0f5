(deftemplate acct (slot id) (slot bal) (slot state (default open)))
(defrule interest ?a <- (acct (bal ?b&:(< ?b 100)) (state open)) => (modify ?a (bal (+ ?b 30))))
(defrule close ?a <- (acct (bal ?b&:(>= ?b 100)) (state open)) => (modify ?a (state closed)))
(defrule same ?a <- (acct (id x) (state closed)) => (modify ?a (state closed)) (printout t "same-value modify" crlf))
(defrule dupe ?a <- (acct (id y) (state closed)) => (duplicate ?a (id z)))
;;; script
(assert (acct (id x) (bal 10)) (acct (id y) (bal 95)))
(run 20)
